//! The benchmark tiers: a generated tier's export files ingest back to the same staging rows.

use crate::common::*;

#[test]
fn a_tiers_export_files_ingest_back_to_its_staging_rows() {
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("generated");
    let exports = dir.path().join("exports");
    let r = govmedia(&generated, &["generate", "--tier", "district", "--seed", "3", "--exports", exports.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("export files"), "{}", r.stdout);

    let ingested = dir.path().join("ingested");
    for kind in ["registry", "posts", "interactions"] {
        let files = exports.join(kind).join("*.csv");
        let r = govmedia(&ingested, &["ingest", kind, "canonical", files.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
        assert!(r.stdout.contains(" 0 rejected + 0 duplicates"), "{kind}: {}", r.stdout);
    }

    let queries = [
        "SELECT unit_name, unit_type, platform, account_id, account_name, opened_on, state, interaction_enabled, city, district \
         FROM registry ORDER BY platform, account_id",
        "SELECT platform, post_id, account_id, published_at, title, kind, repost_of, position, reads, wows, likes, comments, shares \
         FROM posts ORDER BY platform, post_id",
        "SELECT platform, account_id, message_id, channel, received_at, replied_at \
         FROM interactions ORDER BY platform, account_id, message_id",
    ];
    for q in queries {
        let a = sql(&generated, q);
        let b = sql(&ingested, q);
        assert!(a.len() > 100, "{q}: only {} rows", a.len());
        assert_eq!(a.len(), b.len(), "{q}");
        if let Some((x, y)) = a.iter().zip(&b).find(|(x, y)| x != y) {
            panic!("{q}:\n generated {x}\n ingested  {y}");
        }
    }
}
