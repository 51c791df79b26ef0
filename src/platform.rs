//! The platforms (SPEC §3): their codes, the names registers and exports spell them with, and
//! their Chinese names. Ingest reads the names here, the generator writes them, so the two agree;
//! the report and the SQL models (through the `platforms` table a build registers) name them from
//! here too.

/// One platform: its code in every table, and how people write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub code: &'static str,
    /// The name a register or an export usually gives it (what the generator writes).
    pub register_name: &'static str,
    /// The name reports and notices give it.
    pub zh: &'static str,
    /// The short name where space is scarce (a chart's row labels).
    pub short_zh: &'static str,
}

/// Every platform a register may name, by code.
pub const ALL: [Platform; 8] = [
    Platform { code: "weibo", register_name: "新浪微博", zh: "微博", short_zh: "微博" },
    Platform { code: "wechat", register_name: "微信公众号", zh: "微信公众号", short_zh: "微信" },
    Platform { code: "douyin", register_name: "抖音", zh: "抖音", short_zh: "抖音" },
    Platform { code: "toutiao", register_name: "今日头条", zh: "今日头条", short_zh: "头条" },
    Platform { code: "kuaishou", register_name: "快手", zh: "快手", short_zh: "快手" },
    Platform { code: "channels", register_name: "视频号", zh: "视频号", short_zh: "视频号" },
    Platform { code: "bilibili", register_name: "哔哩哔哩", zh: "哔哩哔哩", short_zh: "B站" },
    Platform { code: "app", register_name: "客户端", zh: "客户端", short_zh: "客户端" },
];

/// The platforms the synthetic quarters (demo and benchmark tiers) spread accounts over, in the
/// order the tiers deal them out.
pub const GENERATED: [&str; 4] = ["wechat", "weibo", "douyin", "toutiao"];

/// The code of a platform name as registers and exports write it (a code, a Chinese name or a
/// common alias; case does not matter).
pub fn code(s: &str) -> Option<&'static str> {
    let t = s.trim();
    // Most cells are already a code or a Chinese name: no lower-casing (and no allocation) for them.
    code_of(t).or_else(|| code_of(&t.to_ascii_lowercase()))
}

fn code_of(lower: &str) -> Option<&'static str> {
    Some(match lower {
        "微博" | "新浪微博" | "weibo" | "政务微博" => "weibo",
        "微信" | "微信公众号" | "公众号" | "wechat" | "微信公众平台" => "wechat",
        "抖音" | "douyin" | "抖音号" => "douyin",
        "今日头条" | "头条号" | "头条" | "toutiao" => "toutiao",
        "快手" | "kuaishou" => "kuaishou",
        "视频号" | "微信视频号" | "channels" => "channels",
        "哔哩哔哩" | "b站" | "bilibili" => "bilibili",
        "客户端" | "app" => "app",
        _ => return None,
    })
}

/// The name a register gives a platform code.
pub fn register_name(code: &str) -> Option<&'static str> {
    of(code).map(|p| p.register_name)
}

/// The platform of a code.
pub fn of(code: &str) -> Option<&'static Platform> {
    ALL.iter().find(|p| p.code == code)
}

/// The pseudo-platform of the rows that sum over every platform (`platform_quarter_summary`).
pub const ALL_PLATFORMS: &str = "all";

/// The name reports give a platform code (全部 for [`ALL_PLATFORMS`]; an unknown code as it is).
pub fn zh(code: &str) -> &str {
    match of(code) {
        Some(p) => p.zh,
        None if code == ALL_PLATFORMS => "全部",
        None => code,
    }
}

/// [`zh`], shortened where space is scarce.
pub fn short_zh(code: &str) -> &str {
    of(code).map(|p| p.short_zh).unwrap_or_else(|| zh(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_reads_back_from_its_code_and_its_register_name() {
        for p in ALL {
            assert_eq!(code(p.code), Some(p.code));
            assert_eq!(code(p.register_name), Some(p.code), "{}", p.register_name);
        }
        for g in GENERATED {
            assert!(register_name(g).is_some(), "{g}");
        }
        assert_eq!(code(" Weibo "), Some("weibo"));
        assert_eq!((zh("weibo"), zh("all"), zh("火星")), ("微博", "全部", "火星"));
        assert_eq!((short_zh("wechat"), short_zh("douyin"), short_zh("all")), ("微信", "抖音", "全部"));
        assert_eq!(code("火星"), None);
    }
}
