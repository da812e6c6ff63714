use super::*;

/// Three classes: `a` with 10 groups of 3 scans, `b` with 5 groups of 1, `c` with 1 group.
fn grouped() -> Dataset {
    let mut items = Vec::new();
    for (class, groups, per) in [(0, 10, 3), (1, 5, 1), (2, 1, 4)] {
        for g in 0..groups {
            for s in 0..per {
                items.push(Item {
                    path: PathBuf::from(format!("{class}/{g}/{s}.xyz")),
                    class,
                    split: Split::Train,
                    group: Some(format!("c{class}g{g}")),
                    labels: None,
                    window: None,
                });
            }
        }
    }
    Dataset {
        class_names: vec!["a".into(), "b".into(), "c".into()],
        items,
    }
}

#[test]
fn splits_by_group_per_class_deterministically_with_no_group_in_both() {
    let mut ds = grouped();
    ds.split_by_group(0.2, 7, None);
    assert!(ds.leaking_groups().is_empty());
    let counts = ds.split_counts();
    // round(0.2 × 10) = 2 groups of `a`; one of `b` (at least one); `c` has one group only,
    // which stays in training.
    assert_eq!(counts[0], ("a".into(), 8, 24, 2, 6));
    assert_eq!(counts[1], ("b".into(), 4, 4, 1, 1));
    assert_eq!(counts[2], ("c".into(), 1, 4, 0, 0));
    let mut again = grouped();
    again.split_by_group(0.2, 7, None);
    assert_eq!(again, ds);
    let tests_of = |seed| {
        let mut d = grouped();
        d.split_by_group(0.2, seed, None);
        d.items
            .iter()
            .filter(|i| i.split == Split::Test)
            .map(|i| i.group.clone().unwrap())
            .collect::<Vec<_>>()
    };
    assert!((0..10).any(|s| tests_of(s) != tests_of(7)));
}

#[test]
fn a_covered_value_keeps_a_training_group_in_every_class() {
    // Class `a`'s ten groups: two "shade", eight "sun". Whatever the seed, one shade group
    // stays in training; without cover some seed puts both shade groups in test.
    let cover: Vec<String> = grouped()
        .items
        .iter()
        .map(|i| {
            let g = i.group.as_deref().unwrap();
            if g == "c0g3" || g == "c0g7" {
                "shade"
            } else {
                "sun"
            }
            .to_string()
        })
        .collect();
    let shade_in_training = |ds: &Dataset| {
        ds.items
            .iter()
            .any(|i| matches!(i.group.as_deref(), Some("c0g3" | "c0g7")) && i.split == Split::Train)
    };
    let mut uncovered = false;
    for seed in 0..200 {
        let mut ds = grouped();
        ds.split_by_group(0.4, seed, Some(&cover));
        assert!(shade_in_training(&ds), "seed {seed}");
        assert!(ds.leaking_groups().is_empty());
        // The test share is kept: four of `a`'s ten groups.
        assert_eq!(ds.split_counts()[0].3, 4, "seed {seed}");
        let mut plain = grouped();
        plain.split_by_group(0.4, seed, None);
        uncovered |= !shade_in_training(&plain);
    }
    assert!(
        uncovered,
        "no seed left shade out of training without cover"
    );
}

#[test]
fn leaks_are_found_and_groups_survive_a_manifest_round_trip() {
    let mut ds = grouped();
    ds.split_by_group(0.2, 1, None);
    let moved = ds
        .items
        .iter()
        .position(|i| i.split == Split::Test && i.class == 0)
        .unwrap();
    let group = ds.items[moved].group.clone().unwrap();
    ds.items[moved].split = Split::Train;
    assert_eq!(ds.leaking_groups(), [group]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    std::fs::write(&path, ds.manifest(Path::new(""))).unwrap();
    let back = Dataset::from_manifest(&path).unwrap();
    assert_eq!(back.items.len(), ds.items.len());
    for (a, b) in back.items.iter().zip(&ds.items) {
        assert_eq!((a.class, a.split, &a.group), (b.class, b.split, &b.group));
    }
    // A manifest without the column still reads, with no groups.
    std::fs::write(&path, "path,class,split\nx.xyz,a,train\n").unwrap();
    assert_eq!(Dataset::from_manifest(&path).unwrap().items[0].group, None);
}

#[test]
fn an_index_names_its_missing_column_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s1.xyz"), "0 0 0\n").unwrap();
    let index = dir.path().join("index.csv");
    std::fs::write(&index, "file,species,plant\ns1.xyz,tomato,p1\n").unwrap();
    let ds = Dataset::from_index(dir.path(), &index, "file", "species", "plant").unwrap();
    assert_eq!(ds.items[0].group.as_deref(), Some("p1"));
    let err = Dataset::from_index(dir.path(), &index, "file", "species", "plant_id")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no column \"plant_id\"") && err.contains("file, species, plant"),
        "{err}"
    );
    std::fs::write(&index, "file,species,plant\ns2.xyz,tomato,p1\n").unwrap();
    let err = Dataset::from_index(dir.path(), &index, "file", "species", "plant")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("does not exist"),
        "{err}"
    );
}

/// A tile cut into windows: the manifest's `window` column reads back as written, an item reads
/// only its window's points, and a malformed window or an empty one is refused naming the file.
#[test]
fn windows_survive_a_manifest_round_trip_and_cut_their_tile() {
    let dir = tempfile::tempdir().unwrap();
    let tile = dir.path().join("tile.xyz");
    let text: String = (0..40)
        .map(|i| format!("{} {} 1\n", i as f64 * 0.5, (i % 4) as f64))
        .collect();
    std::fs::write(&tile, text).unwrap();
    let windows = super::Window::tiles([0.0, 0.0], [19.5, 3.0], 10.0, 10.0);
    assert_eq!(windows.len(), 2);
    let ds = Dataset {
        class_names: vec!["scene".into()],
        items: windows
            .iter()
            .map(|&w| Item {
                path: tile.clone(),
                class: 0,
                split: Split::Train,
                group: Some("tile".into()),
                labels: None,
                window: Some(w),
            })
            .collect(),
    };
    let path = dir.path().join("m.csv");
    ds.write_manifest(&path).unwrap();
    let back = Dataset::from_manifest(&path).unwrap();
    assert_eq!(back.items, ds.items);
    let counts: Vec<usize> = back.items.iter().map(|i| i.read().unwrap().len()).collect();
    assert_eq!(counts, [20, 20], "each point in one window");

    std::fs::write(
        &path,
        "path,class,split,group,labels,window\ntile.xyz,a,train,t,,0 0 1\n",
    )
    .unwrap();
    let err = Dataset::from_manifest(&path).unwrap_err().to_string();
    assert!(
        err.contains("m.csv") && err.contains("line 2") && err.contains("X0 Y0 X1 Y1"),
        "{err}"
    );
    std::fs::write(
        &path,
        "path,class,split,group,labels,window\ntile.xyz,a,train,t,,50 0 60 5\n",
    )
    .unwrap();
    let err = Dataset::from_manifest(&path).unwrap().items[0]
        .read()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tile.xyz") && err.contains("holds no point"),
        "{err}"
    );
}
