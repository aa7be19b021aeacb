//! Tests of the channel tables: membership, DM lookup, visibility and the
//! member list.

use std::collections::HashSet;

use rusqlite::Connection;

use super::*;

fn db() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    crate::db::migrations::migrate(&mut c).unwrap();
    for u in ["a", "b", "c"] {
        c.execute(
            "INSERT INTO user (id, name, email, role, created_at, updated_at, last_active_at) \
             VALUES (?1, ?1, ?1 || '@x', 'user', 0, 0, 0)",
            [u],
        )
        .unwrap();
    }
    c
}

fn channel(id: &str, kind: Option<&str>) -> ChannelRow {
    ChannelRow {
        id: id.into(),
        user_id: "a".into(),
        kind: kind.map(str::to_string),
        name: id.into(),
        description: None,
        is_private: None,
        data: None,
        meta: None,
        created_at: 1,
        updated_at: 1,
        updated_by: None,
        archived_at: None,
        archived_by: None,
        deleted_at: None,
        deleted_by: None,
    }
}

#[test]
fn membership_and_dm_lookup() {
    let c = db();
    insert(&c, &channel("dm1", Some("dm"))).unwrap();
    let ab: HashSet<String> = ["a".to_string(), "b".to_string()].into();
    assert_eq!(add_members(&c, "dm1", "a", &ab, 5).unwrap().len(), 2);
    assert!(add_members(&c, "dm1", "a", &ab, 6).unwrap().is_empty());
    let found = dm_between(&c, &["b".into(), "a".into()]).unwrap();
    assert_eq!(found.map(|c| c.id), Some("dm1".into()));
    assert!(dm_between(&c, &["a".into(), "c".into()]).unwrap().is_none());
    let none = HashSet::new();
    assert_eq!(for_user(&c, "b", &none).unwrap().len(), 1);
    assert!(for_user(&c, "c", &none).unwrap().is_empty());
    set_active(&c, "dm1", "b", false, 7).unwrap();
    assert!(for_user(&c, "b", &none).unwrap().is_empty());
    activate_all(&c, "dm1", 8).unwrap();
    assert!(is_active_member(&c, "dm1", "b").unwrap());
    insert(&c, &channel("std", None)).unwrap();
    assert!(for_user(&c, "c", &none).unwrap().is_empty());
    c.execute(
        "INSERT INTO access_grant (id, resource_type, resource_id, principal_type, principal_id, permission, created_at) \
         VALUES ('g', 'channel', 'std', 'user', '*', 'read', 0)",
        [],
    )
    .unwrap();
    assert_eq!(for_user(&c, "c", &none).unwrap()[0].id, "std");
    let (page, total) = people_page(
        &c,
        &PeopleFilter {
            channel_id: Some("dm1".into()),
            ..Default::default()
        },
        Some("name"),
        Some("asc"),
        Some(30),
        0,
    )
    .unwrap();
    assert_eq!(total, 2);
    assert_eq!(page[0].id, "a");
}
