//! Writes a plan as the files an office collects, in the real formats and a mix of them.

use super::plan::{Account, Message, Plan, Post, CITY, DISTRICT};
use super::{encode, GenerateError};
use chrono::{Duration, NaiveDate, NaiveDateTime};
use std::path::Path;

/// The name a register gives a platform (the generator only uses the codes it knows).
fn platform_zh(p: &'static str) -> &'static str {
    crate::platform::register_name(p).unwrap_or(p)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), GenerateError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| GenerateError::CreateDir { path: dir.to_path_buf(), source })?;
    }
    std::fs::write(path, bytes).map_err(|source| GenerateError::Write { path: path.to_path_buf(), source })
}

/// CSV text; `gbk` encodes it as Excel on Chinese Windows does, else UTF-8 with BOM.
fn csv_bytes(header: &[&str], rows: &[Vec<String>], gbk: bool) -> Result<Vec<u8>, GenerateError> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    let bytes = w.into_inner().map_err(|e| encode(format!("a CSV file headed {}", header.join(",")))(&e))?;
    let text = String::from_utf8(bytes).map_err(|e| encode(format!("a CSV file headed {}", header.join(",")))(&e))?;
    Ok(if gbk {
        encoding_rs::GBK.encode(&text).0.into_owned()
    } else {
        let mut b = b"\xEF\xBB\xBF".to_vec();
        b.extend(text.into_bytes());
        b
    })
}

enum Cell {
    Text(String),
    Num(f64),
    /// An Excel date cell.
    When(NaiveDateTime),
}

fn xlsx_bytes(sheet: &str, title: Option<&str>, header: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, GenerateError> {
    let xlsx = encode(format!("the workbook sheet {sheet}"));
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet).map_err(|e| xlsx(&e))?;
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let mut r0 = 0u32;
    if let Some(t) = title {
        ws.write_string(0, 0, t).map_err(|e| xlsx(&e))?;
        r0 = 1;
    }
    for (c, h) in header.iter().enumerate() {
        ws.write_string(r0, c as u16, *h).map_err(|e| xlsx(&e))?;
    }
    for (i, row) in rows.iter().enumerate() {
        let r = r0 + 1 + i as u32;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Text(s) if s.is_empty() => {}
                Cell::Text(s) => {
                    ws.write_string(r, c, s).map_err(|e| xlsx(&e))?;
                }
                Cell::Num(n) => {
                    ws.write_number(r, c, *n).map_err(|e| xlsx(&e))?;
                }
                Cell::When(t) => {
                    let s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
                    let dt = ExcelDateTime::parse_from_str(&s).map_err(|e| xlsx(&e))?;
                    ws.write_datetime_with_format(r, c, &dt, &date_fmt).map_err(|e| xlsx(&e))?;
                }
            }
        }
    }
    wb.save_to_buffer().map_err(|e| xlsx(&e))
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn hm(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn unix(t: NaiveDateTime) -> i64 {
    crate::time::beijing_micros(t) / 1_000_000
}

fn folder_name(a: &Account) -> String {
    a.name.replace(['/', '\\'], "_")
}

/// Writes every export and returns how many files were written.
pub fn write_all(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let mut n = 0;
    n += write_register(plan, out)?;
    n += write_filings(plan, out)?;
    n += write_posts(plan, out)?;
    n += write_mediacrawler_videos(plan, out)?;
    n += write_canonical_posts(plan, out)?;
    n += write_messages(plan, out)?;
    n += write_followers(plan, out)?;
    n += write_oversight(plan, out)?;
    Ok(n)
}

/// The register: Excel, with a title row above the header as offices keep it.
fn write_register(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let q = plan.quarter;
    let header = ["单位名称", "单位类别", "平台", "账号名称", "账号ID", "开设日期", "状态", "互动功能", "运维责任人", "所属市", "所属区县"];
    let rows: Vec<Vec<Cell>> = plan
        .accounts
        .iter()
        .filter(|a| a.registered)
        .map(|a| {
            let u = &plan.units[a.unit];
            vec![
                Cell::Text(u.name.clone()),
                Cell::Text(u.unit_type.into()),
                Cell::Text(platform_zh(a.platform).into()),
                Cell::Text(a.name.clone()),
                Cell::Text(a.id.clone()),
                Cell::Text(ymd(a.opened_on)),
                Cell::Text(if a.closed_on.is_some() { "注销" } else { "正常" }.into()),
                Cell::Text(if a.interaction_enabled { "是" } else { "否" }.into()),
                Cell::Text(a.maintainer.clone()),
                // One district: its report is the district office's (issue #16).
                Cell::Text(CITY.into()),
                Cell::Text(DISTRICT.into()),
            ]
        })
        .collect();
    let title = format!("{DISTRICT}政务新媒体开设管理情况表（{q}）");
    write(&out.join("registry/台账.xlsx"), &xlsx_bytes("政务新媒体开设管理情况表", Some(&title), &header, &rows)?)?;
    Ok(1)
}

/// Filings: GBK CSV with mixed date styles.
fn write_filings(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let rows: Vec<Vec<String>> = plan
        .filings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let a = &plan.accounts[f.account];
            let style = |d: NaiveDate| match i % 3 {
                0 => ymd(d),
                1 => d.format("%Y/%-m/%-d").to_string(),
                _ => d.format("%Y年%-m月%-d日").to_string(),
            };
            vec![
                plan.units[a.unit].name.clone(),
                platform_zh(a.platform).into(),
                a.id.clone(),
                a.name.clone(),
                f.action.into(),
                style(f.action_date),
                f.filed_on.map(style).unwrap_or_default(),
                f.announced_on.map(style).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["单位名称", "平台", "账号ID", "账号名称", "事项", "事项日期", "备案日期", "公告日期"];
    write(&out.join("filings/备案记录.csv"), &csv_bytes(&header, &rows, true)?)?;
    Ok(1)
}

/// Posts, one file per account in its platform's export format (weibo alternates between the two
/// crawlers).
pub(super) fn write_posts(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let mut n = 0;
    for (i, a) in plan.accounts.iter().enumerate() {
        let posts: Vec<&Post> = plan.posts.iter().filter(|p| p.account == i).collect();
        if posts.is_empty() {
            continue;
        }
        match a.platform {
            "weibo" if i % 4 != 1 => write_weibo_crawler_posts(a, &posts, out)?,
            "weibo" => write_weibospider_posts(a, &posts, out)?,
            "wechat" => write_wechat_posts(plan, a, &posts, out)?,
            "douyin" => write_douyin_creator_posts(a, &posts, out)?,
            _ => {}
        }
        n += 1;
    }
    Ok(n)
}

/// weibo-crawler's CSV: ids carry a trailing tab as the crawler writes them, and original posts' rows are short.
fn write_weibo_crawler_posts(a: &Account, posts: &[&Post], out: &Path) -> Result<(), GenerateError> {
    let header = [
        "id",
        "bid",
        "正文",
        "头条文章url",
        "原始图片url",
        "视频url",
        "Live Photo视频url",
        "位置",
        "日期",
        "工具",
        "点赞数",
        "评论数",
        "转发数",
        "话题",
        "@用户",
        "完整日期",
        "是否编辑过",
        "编辑次数",
        "是否原创",
        "源用户id",
        "源用户昵称",
        "源微博id",
    ];
    let rows: Vec<Vec<String>> = posts
        .iter()
        .map(|p| {
            let mut r = vec![
                format!("{}\t", p.id),
                // The crawler's short id: the post id's last eight characters (all of a shorter one).
                format!("Q{}", p.id.get(p.id.len().saturating_sub(8)..).unwrap_or(&p.id)),
                format!("{}。详情请关注{}。", p.title, a.name),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                p.at.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "微博 weibo.com".into(),
                p.likes.to_string(),
                p.comments.to_string(),
                p.shares.to_string(),
                String::new(),
                String::new(),
                p.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                "False".into(),
                "0".into(),
            ];
            match &p.repost_of {
                Some(src) => r.extend(["False".into(), "7100000000".into(), "青禾发布".into(), format!("{src}\t")]),
                // Original posts end early: the file's rows are ragged.
                None => r.push("True".into()),
            }
            r
        })
        .collect();
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(b"\xEF\xBB\xBF".to_vec());
    w.write_record(header)?;
    for r in rows {
        w.write_record(&r)?;
    }
    let path = out.join(format!("posts/weibo-crawler/{}/{}.csv", folder_name(a), a.id));
    let bytes = w.into_inner().map_err(|e| encode(path.display())(&e))?;
    write(&path, &bytes)
}

/// weiboSpider's CSV, with the header repeated halfway as an appended crawl leaves it.
fn write_weibospider_posts(a: &Account, posts: &[&Post], out: &Path) -> Result<(), GenerateError> {
    let header = [
        "微博id",
        "微博正文",
        "头条文章url",
        "原始图片url",
        "是否为原创微博",
        "微博视频url",
        "发布位置",
        "发布时间",
        "发布工具",
        "点赞数",
        "转发数",
        "评论数",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (k, p) in posts.iter().enumerate() {
        if k == posts.len() / 2 {
            // weiboSpider repeats its header when it appends a later crawl.
            rows.push(header.iter().map(|s| s.to_string()).collect());
        }
        rows.push(vec![
            p.id.clone(),
            p.title.clone(),
            String::new(),
            "无".into(),
            if p.repost_of.is_some() { "False" } else { "True" }.into(),
            "无".into(),
            "无".into(),
            hm(p.at),
            "微博 weibo.com".into(),
            p.likes.to_string(),
            p.shares.to_string(),
            p.comments.to_string(),
        ]);
    }
    write(&out.join(format!("posts/weibospider/{}/{}.csv", folder_name(a), a.id)), &csv_bytes(&header, &rows, false)?)
}

/// The WeChat back office's 已通知内容 workbook, named by the period it covers.
fn write_wechat_posts(plan: &Plan, a: &Account, posts: &[&Post], out: &Path) -> Result<(), GenerateError> {
    let q = plan.quarter;
    let header = [
        "内容标题",
        "发表时间",
        "总阅读人数",
        "总阅读次数",
        "总分享人数",
        "分享次数",
        "阅读后关注人数",
        "送达人数",
        "公众号消息阅读次数",
        "送达阅读率",
        "首次分享次数",
        "分享产生阅读次数",
        "首次分享率",
        "首次分享带来阅读次数",
        "阅读完成率",
        "内容url",
    ];
    let rows: Vec<Vec<Cell>> = posts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            vec![
                Cell::Text(p.title.clone()),
                // Some rows carry the time as text, others as an Excel date cell.
                if k % 2 == 0 { Cell::Text(hm(p.at)) } else { Cell::When(p.at) },
                Cell::Num((p.reads * 4 / 5) as f64),
                Cell::Num(p.reads as f64),
                Cell::Num((p.shares * 4 / 5) as f64),
                Cell::Num(p.shares as f64),
                Cell::Num((p.reads / 200) as f64),
                Cell::Num(12000.0),
                Cell::Num((p.reads * 3 / 5) as f64),
                Cell::Text("4.1%".into()),
                Cell::Num((p.shares / 2) as f64),
                Cell::Num((p.reads / 5) as f64),
                Cell::Text("2.0%".into()),
                Cell::Num((p.reads / 8) as f64),
                Cell::Text("63%".into()),
                Cell::Text(p.id.clone()),
            ]
        })
        .collect();
    let name = format!(
        "posts/wechat-mp/{}/已通知内容_{}_{}.xlsx",
        a.id,
        q.prev().start().format("%Y%m%d"),
        (q.end() - Duration::days(1)).format("%Y%m%d")
    );
    write(&out.join(name), &xlsx_bytes("Sheet1", None, &header, &rows)?)
}

/// The Douyin creator centre's 作品数据 workbook; every ninth row shows "-" for its counts.
fn write_douyin_creator_posts(a: &Account, posts: &[&Post], out: &Path) -> Result<(), GenerateError> {
    let header = [
        "作品名称",
        "发布时间",
        "体裁",
        "审核状态",
        "播放量",
        "完播率",
        "5s完播率",
        "封面点击率",
        "2s跳出率",
        "平均播放时长",
        "点赞量",
        "分享量",
        "评论量",
        "收藏量",
        "主页访问量",
        "粉丝增量",
    ];
    let rows: Vec<Vec<Cell>> = posts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let missing = k % 9 == 8;
            let num = |v: i64| if missing { Cell::Text("-".into()) } else { Cell::Num(v as f64) };
            vec![
                Cell::Text(p.title.clone()),
                Cell::Text(hm(p.at)),
                Cell::Text("视频".into()),
                Cell::Text("已发布".into()),
                num(p.reads),
                Cell::Text("0.3".into()),
                Cell::Text("0.5".into()),
                Cell::Text("-".into()),
                Cell::Text("0.4".into()),
                Cell::Text("9.2".into()),
                num(p.likes),
                num(p.shares),
                num(p.comments),
                num(p.likes / 10),
                num(p.reads / 100),
                num(1),
            ]
        })
        .collect();
    write(&out.join(format!("posts/douyin-creator/{}/作品数据.xlsx", a.id)), &xlsx_bytes("Sheet1", None, &header, &rows)?)
}

/// Douyin videos as MediaCrawler saw them (the same videos again: merged at ingest).
pub(super) fn write_mediacrawler_videos(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let mut lines = String::new();
    for p in plan.posts.iter().filter(|p| plan.accounts[p.account].platform == "douyin") {
        let a = &plan.accounts[p.account];
        let v = serde_json::json!({
            "aweme_id": p.id, "aweme_type": "0", "title": p.title, "desc": p.title,
            "create_time": unix(p.at), "creator_hash": crate::ingest::creator_hash(&a.id), "nickname": a.name,
            "liked_count": p.likes.to_string(), "collected_count": (p.likes / 10).to_string(),
            "comment_count": p.comments.to_string(), "share_count": p.shares.to_string(),
            "aweme_url": format!("https://www.douyin.com/video/{}", p.id),
        });
        lines.push_str(&v.to_string());
        lines.push('\n');
    }
    write(
        &out.join(format!("posts/mediacrawler/douyin/search_contents_{}.jsonl", ymd(plan.quarter.end() - Duration::days(1)))),
        lines.as_bytes(),
    )?;
    Ok(1)
}

/// Toutiao (and anything else) in the canonical template, the time as text or as a Unix stamp.
pub(super) fn write_canonical_posts(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let header = [
        "平台",
        "账号ID",
        "发布ID",
        "发布时间",
        "标题",
        "类型",
        "转发源ID",
        "位置",
        "阅读数",
        "在看数",
        "点赞数",
        "评论数",
        "转发数",
        "链接",
    ];
    let rows: Vec<Vec<String>> = plan
        .posts
        .iter()
        .filter(|p| plan.accounts[p.account].platform == "toutiao")
        .enumerate()
        .map(|(k, p)| {
            let a = &plan.accounts[p.account];
            let when = if k % 2 == 0 { hm(p.at) } else { unix(p.at).to_string() };
            vec![
                platform_zh(a.platform).into(),
                a.id.clone(),
                p.id.clone(),
                when,
                p.title.clone(),
                "原创".into(),
                String::new(),
                String::new(),
                p.reads.to_string(),
                String::new(),
                p.likes.to_string(),
                p.comments.to_string(),
                p.shares.to_string(),
                String::new(),
            ]
        })
        .collect();
    write(&out.join("posts/canonical/头条号发布记录.csv"), &csv_bytes(&header, &rows, true)?)?;
    Ok(1)
}

/// Messages: the office's 留言办理 register (canonical), wechat comment lists, douyin comments.
pub(super) fn write_messages(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let mut n = 0;
    let q_end = plan.quarter.end();
    let header = ["平台", "账号ID", "留言ID", "渠道", "留言时间", "留言人", "回复时间", "留言内容"];
    let mut canonical = Vec::new();
    let mut wechat: std::collections::BTreeMap<(String, String), Vec<serde_json::Value>> = Default::default();
    let mut douyin = String::new();
    for m in &plan.messages {
        let a = &plan.accounts[m.account];
        match (&m.post, a.platform) {
            (Some(post), "wechat") => {
                let mut c = serde_json::json!({
                    "user_comment_id": wechat.get(&(a.id.clone(), post.clone())).map(|v| v.len() + 1).unwrap_or(1),
                    "create_time": unix(m.at), "content": "请问这个政策什么时候开始执行？", "comment_type": 0,
                    "openid": format!("o{}", crate::ingest::creator_hash(&m.author)),
                });
                if let Some(r) = m.replied {
                    c["reply"] = serde_json::json!({"content": "您好，已转相关科室办理。", "create_time": unix(r)});
                }
                wechat.entry((a.id.clone(), post.clone())).or_default().push(c);
            }
            (Some(post), "douyin") => douyin_comment_lines(&mut douyin, a, m, post),
            _ => canonical.push(vec![
                platform_zh(a.platform).into(),
                a.id.clone(),
                m.id.clone(),
                if m.channel == "评论" { "留言".into() } else { m.channel.into() },
                m.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                m.author.clone(),
                m.replied.map(|r| r.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default(),
                "（留言内容）".into(),
            ]),
        }
    }
    write(&out.join("interactions/canonical/留言办理.csv"), &csv_bytes(&header, &canonical, false)?)?;
    n += 1;
    for ((account, post), comments) in &wechat {
        let article = post.rsplit('/').next().unwrap_or(post);
        let v = serde_json::json!({"errcode": 0, "total": comments.len(), "comment": comments});
        let path = out.join(format!("interactions/wechat-comments/{account}/comment_list_{article}.json"));
        let body = serde_json::to_string_pretty(&v).map_err(|e| encode(path.display())(&e))?;
        write(&path, body.as_bytes())?;
        n += 1;
    }
    write(
        &out.join(format!("interactions/mediacrawler/douyin/search_comments_{}.jsonl", ymd(q_end - Duration::days(1)))),
        douyin.as_bytes(),
    )?;
    n += 1;
    Ok(n)
}

/// A Douyin comment as MediaCrawler's JSON lines, followed by the account's reply when it answered.
fn douyin_comment_lines(lines: &mut String, a: &Account, m: &Message, post: &str) {
    let author_hash = crate::ingest::creator_hash(&m.author);
    lines.push_str(
        &serde_json::json!({"comment_id": m.id, "create_time": unix(m.at), "aweme_id": post,
        "content": "请问在哪里办理？", "creator_hash": author_hash, "nickname": "用***户", "parent_comment_id": "0"})
        .to_string(),
    );
    lines.push('\n');
    if let Some(r) = m.replied {
        lines.push_str(
            &serde_json::json!({"comment_id": format!("{}r", m.id), "create_time": unix(r), "aweme_id": post,
            "content": "您好，可到政务服务中心办理。", "creator_hash": crate::ingest::creator_hash(&a.id),
            "nickname": a.name, "parent_comment_id": m.id})
            .to_string(),
        );
        lines.push('\n');
    }
}

/// Followers: weibo users.csv at both ends of the quarter, wechat daily analysis, the rest canonical.
fn write_followers(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    let mut n = 0;
    let (q_start, q_end) = (plan.quarter.start(), plan.quarter.end());
    let growth = |a: &Account, days: i64| a.followers_start + days * (a.followers_start / 400 + 1);
    let quarter_days = (q_end - q_start).num_days();
    for (label, days) in [(ymd(q_start - Duration::days(1)), 0), (ymd(q_end - Duration::days(1)), quarter_days)] {
        let header = [
            "用户id",
            "昵称",
            "性别",
            "生日",
            "所在地",
            "IP属地",
            "学习经历",
            "公司",
            "注册时间",
            "阳光信用",
            "微博数",
            "粉丝数",
            "关注数",
            "简介",
        ];
        let rows: Vec<Vec<String>> = plan
            .accounts
            .iter()
            .filter(|a| a.platform == "weibo")
            .map(|a| {
                vec![
                    a.id.clone(),
                    a.name.clone(),
                    "m".into(),
                    String::new(),
                    "青禾".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    ymd(a.opened_on),
                    "信用较好".into(),
                    "100".into(),
                    growth(a, days).to_string(),
                    "50".into(),
                    format!("{}官方微博", plan.units[a.unit].name),
                ]
            })
            .collect();
        write(&out.join(format!("followers/weibo-users/{label}/users.csv")), &csv_bytes(&header, &rows, false)?)?;
        n += 1;
    }
    for a in plan.accounts.iter().filter(|a| a.platform == "wechat") {
        let mut html = String::from("<html><head><meta charset=\"utf-8\"></head><body><table border=\"1\">\n<tr><th>时间</th><th>新关注人数</th><th>取消关注人数</th><th>净增关注人数</th><th>累积关注人数</th></tr>\n");
        for d in 0..=quarter_days {
            let day = q_start - Duration::days(1) + Duration::days(d);
            let net = growth(a, d) - growth(a, (d - 1).max(0));
            html.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{net}</td><td>{}</td></tr>\n",
                ymd(day),
                net + 2,
                2,
                growth(a, d)
            ));
        }
        html.push_str("</table></body></html>\n");
        write(&out.join(format!("followers/wechat-mp-users/{}/user_analysis.xls", a.id)), html.as_bytes())?;
        n += 1;
    }
    let rows: Vec<Vec<String>> = plan
        .accounts
        .iter()
        .filter(|a| matches!(a.platform, "douyin" | "toutiao"))
        .flat_map(|a| {
            [(q_start - Duration::days(1), 0), (q_end - Duration::days(1), quarter_days)]
                .map(|(d, days)| vec![platform_zh(a.platform).to_string(), a.id.clone(), ymd(d), growth(a, days).to_string()])
        })
        .collect();
    write(&out.join("followers/canonical/粉丝数.csv"), &csv_bytes(&["平台", "账号ID", "日期", "粉丝数"], &rows, false)?)?;
    n += 1;
    Ok(n)
}

/// The office's own records: directives, self-inspections, findings.
fn write_oversight(plan: &Plan, out: &Path) -> Result<usize, GenerateError> {
    // The deadline an office usually writes: the rubric's default.
    let deadline = crate::models::rubric::Rubric::builtin().directive_deadline_hours().to_string();
    let rows: Vec<Vec<String>> = plan
        .directives
        .iter()
        .map(|d| {
            let units: Vec<String> = d.units.iter().map(|u| plan.units[*u].name.clone()).collect();
            vec![d.id.clone(), d.title.clone(), "微博".into(), d.source_post.clone(), hm(d.at), deadline.clone(), units.join("、")]
        })
        .collect();
    write(
        &out.join("directives/转载要求.csv"),
        &csv_bytes(&["指令ID", "标题", "源平台", "源发布ID", "发布时间", "时限小时", "适用单位"], &rows, false)?,
    )?;
    let rows: Vec<Vec<String>> = plan
        .self_inspections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let month = if i % 2 == 0 { format!("{}-{:02}", s.month.0, s.month.1) } else { format!("{}年{}月", s.month.0, s.month.1) };
            vec![
                plan.units[s.unit].name.clone(),
                month,
                ymd(s.published_on),
                format!("http://qinghe.example.gov.cn/zc/{}{:02}/{}", s.month.0, s.month.1, s.unit),
            ]
        })
        .collect();
    write(&out.join("self_inspections/自查公开.csv"), &csv_bytes(&["单位名称", "月份", "公开日期", "链接"], &rows, false)?)?;
    let rows: Vec<Vec<String>> = plan
        .findings
        .iter()
        .map(|f| {
            let a = &plan.accounts[f.account];
            vec![
                platform_zh(a.platform).into(),
                a.id.clone(),
                f.post.clone(),
                ymd(f.found_on),
                f.kind.into(),
                f.corrected_on.map(ymd).unwrap_or_default(),
                format!("{}（检查发现）", f.kind),
            ]
        })
        .collect();
    write(
        &out.join("findings/检查发现.csv"),
        &csv_bytes(&["平台", "账号ID", "发布ID", "发现日期", "问题类型", "整改日期", "说明"], &rows, false)?,
    )?;
    Ok(3)
}

/// The pipeline file for the generated folder.
pub fn pipeline_toml(plan: &Plan) -> String {
    let q = plan.quarter;
    let mut s = format!(
        "# Generated by `govmedia generate`: a fictional district's quarter of exports.\nquarter = \"{q}\"\n\
         # The report beside the exports, where `govmedia demo` writes it.\nreport_dir = \"reports\"\n\n"
    );
    // Who issues the notice: the fictional district's own office.
    let district = DISTRICT;
    let short: String = district.chars().next().map(String::from).unwrap_or_default();
    s.push_str(&format!(
        "# The documents' issuing office and what they ask of the units (see pipelines/example.toml).\n\
         [notice]\noffice = \"{district}人民政府办公室\"\narea = \"{district}\"\n\
         addressee = \"各街道办事处、镇人民政府，区直各单位\"\nnumber = \"{short}政办〔{year}〕{n}号\"\n\
         deadline = \"{deadline}\"\n\
         requirements = \"\"\"\n各单位要对照通报问题逐项整改，举一反三，建立健全政务新媒体日常管理制度。\n\
         被通报批评单位要深入分析原因，明确整改责任人，按期完成整改并报送整改情况。\"\"\"\n\n",
        year = q.year,
        n = q.q * 10,
        deadline = ymd(q.end() + Duration::days(30)),
    ));
    for (kind, format, path) in
        [("registry", "canonical", "registry/*.xlsx"), ("filings", "canonical", "filings/*.csv")].iter().chain(ACTIVITY_SOURCES)
    {
        s.push_str(&source_toml(kind, format, path, None));
    }
    let sources: &[(&str, &str, &str, Option<String>)] = &[
        (
            "followers",
            "weibo-crawler-users",
            &format!("followers/weibo-users/{}/users.csv", q.start().pred_opt().map(ymd).unwrap_or_default()),
            Some(q.start().pred_opt().map(ymd).unwrap_or_default()),
        ),
        (
            "followers",
            "weibo-crawler-users",
            &format!("followers/weibo-users/{}/users.csv", q.end().pred_opt().map(ymd).unwrap_or_default()),
            Some(q.end().pred_opt().map(ymd).unwrap_or_default()),
        ),
        ("followers", "wechat-mp-users", "followers/wechat-mp-users/*/*.xls", None),
        ("followers", "canonical", "followers/canonical/*.csv", None),
        ("directives", "canonical", "directives/*.csv", None),
        ("self_inspections", "canonical", "self_inspections/*.csv", None),
        ("findings", "canonical", "findings/*.csv", None),
    ];
    for (kind, format, path, as_of) in sources {
        s.push_str(&source_toml(kind, format, path, as_of.as_deref()));
    }
    s
}

/// The posts' and messages' sources (kind, format, path) of the files [`write_posts`],
/// [`write_mediacrawler_videos`], [`write_canonical_posts`] and [`write_messages`] write, in the
/// order they are ingested: the Douyin comments name videos of the posts before them.
pub(super) const ACTIVITY_SOURCES: &[(&str, &str, &str)] = &[
    ("posts", "weibo-crawler", "posts/weibo-crawler/**/*.csv"),
    ("posts", "weibospider", "posts/weibospider/**/*.csv"),
    ("posts", "wechat-mp", "posts/wechat-mp/*/*.xlsx"),
    ("posts", "douyin-creator", "posts/douyin-creator/*/*.xlsx"),
    ("posts", "mediacrawler", "posts/mediacrawler/**/*.jsonl"),
    ("posts", "canonical", "posts/canonical/*.csv"),
    ("interactions", "canonical", "interactions/canonical/*.csv"),
    ("interactions", "wechat-comments", "interactions/wechat-comments/*/*.json"),
    ("interactions", "mediacrawler", "interactions/mediacrawler/**/*.jsonl"),
];

/// One `[[source]]` table of a pipeline file.
pub(super) fn source_toml(kind: &str, format: &str, path: &str, as_of: Option<&str>) -> String {
    let mut s = format!("[[source]]\nkind = \"{kind}\"\nformat = \"{format}\"\npath = \"{path}\"\n");
    if let Some(d) = as_of {
        s.push_str(&format!("as_of = \"{d}\"\n"));
    }
    s.push('\n');
    s
}
