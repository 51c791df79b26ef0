//! The words the models and the report share (SPEC §7): the grades, with their colours, and the
//! criticism categories. This is their one home: the SQL models read the labels from the `rubric`
//! table (the rubric adds them to its row), and the report's tables, charts and notice name and
//! colour them from here. It depends on no other module. (Platform names live in `platform`.)

/// A grade of an account or a unit, best first. The rubric's `[grades]` give the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grade {
    Excellent,
    Good,
    Pass,
    Fail,
}

impl Grade {
    /// Best first, as the notice counts them.
    pub const ALL: [Grade; 4] = [Grade::Excellent, Grade::Good, Grade::Pass, Grade::Fail];

    /// The label the marts hold and people read.
    pub const fn label(self) -> &'static str {
        match self {
            Grade::Excellent => "优秀",
            Grade::Good => "良好",
            Grade::Pass => "合格",
            Grade::Fail => "不合格",
        }
    }

    /// The grade a mart's label names (`None` for NULL or anything else).
    pub fn from_label(label: &str) -> Option<Grade> {
        Grade::ALL.into_iter().find(|g| g.label() == label)
    }

    /// The column of the `rubric` table that holds the label, for the SQL.
    pub const fn label_column(self) -> &'static str {
        match self {
            Grade::Excellent => "grade_excellent_label",
            Grade::Good => "grade_good_label",
            Grade::Pass => "grade_pass_label",
            Grade::Fail => "grade_fail_label",
        }
    }

    /// Its colour in charts (bars, keys), as 0xRRGGBB.
    pub const fn colour(self) -> u32 {
        match self {
            Grade::Excellent => 0x3C965A,
            Grade::Good => 0x2D69AA,
            Grade::Pass => 0xE68C28,
            Grade::Fail => 0xC83C32,
        }
    }

    /// The light fill of a table row of this grade (XLSX and HTML), as 0xRRGGBB: the fills Excel's
    /// conditional formats use, so the workbook reads as offices expect.
    pub const fn fill(self) -> u32 {
        match self {
            Grade::Excellent => 0xC6EFCE,
            Grade::Good => 0xDDEBF7,
            Grade::Pass => 0xFFEB9C,
            Grade::Fail => 0xFFC7CE,
        }
    }

    /// The HTML class of a table row of this grade (styled with [`Grade::fill`]).
    pub const fn css_class(self) -> &'static str {
        match self {
            Grade::Excellent => "g-a",
            Grade::Good => "g-b",
            Grade::Pass => "g-c",
            Grade::Fail => "g-d",
        }
    }
}

/// A category of reason to criticise (SPEC §7), in the order a notice lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// 逾期不更新: the no-update veto.
    NoUpdate,
    /// 信息发布不准确: the content veto.
    Content,
    /// 互动回应不及时: the interaction veto.
    Interaction,
    /// 运维管理不规范: unfiled accounts and duplicate platform accounts.
    Management,
    /// 转载不及时: missed directives.
    Directives,
    /// 综合评分不合格: a failing unit grade.
    FailingGrade,
}

impl Category {
    /// In the notice's order.
    pub const ALL: [Category; 6] =
        [Category::NoUpdate, Category::Content, Category::Interaction, Category::Management, Category::Directives, Category::FailingGrade];

    /// The label `criticism_items.category` holds.
    pub const fn label(self) -> &'static str {
        match self {
            Category::NoUpdate => "逾期不更新",
            Category::Content => "信息发布不准确",
            Category::Interaction => "互动回应不及时",
            Category::Management => "运维管理不规范",
            Category::Directives => "转载不及时",
            Category::FailingGrade => "综合评分不合格",
        }
    }

    pub fn from_label(label: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.label() == label)
    }

    /// The column of the `rubric` table that holds the label, for the SQL.
    pub const fn label_column(self) -> &'static str {
        match self {
            Category::NoUpdate => "category_no_update",
            Category::Content => "category_content",
            Category::Interaction => "category_interaction",
            Category::Management => "category_management",
            Category::Directives => "category_directives",
            Category::FailingGrade => "category_failing_grade",
        }
    }

    /// A single veto (单项否决); the others are deductions (扣分).
    pub const fn is_veto(self) -> bool {
        matches!(self, Category::NoUpdate | Category::Content | Category::Interaction)
    }

    /// Its position in the notice's order.
    pub fn position(self) -> usize {
        Category::ALL.iter().position(|c| *c == self).unwrap_or(Category::ALL.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_back_and_columns_are_distinct() {
        for g in Grade::ALL {
            assert_eq!(Grade::from_label(g.label()), Some(g));
        }
        for c in Category::ALL {
            assert_eq!(Category::from_label(c.label()), Some(c));
        }
        let mut columns: Vec<&str> =
            Grade::ALL.iter().map(|g| g.label_column()).chain(Category::ALL.iter().map(|c| c.label_column())).collect();
        columns.sort();
        columns.dedup();
        assert_eq!(columns.len(), Grade::ALL.len() + Category::ALL.len());
        assert_eq!(Grade::from_label("甲"), None);
        assert_eq!(Category::from_label("其他"), None);
    }
}
