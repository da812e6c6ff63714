//! `pointlime competence --evaluate`: the competence check measured as an out-of-distribution
//! detector beside the 3DOS baselines (the metrics are `pointlime::ood`'s).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;

use pointlime::cloud::{Axis, FileFormat, PointCloud};
use pointlime::competence::{self, Domain, NetworkInput};
use pointlime::dataset::{Dataset, Item, Split};
use pointlime::ood::{self, Detector, Measured, NearestNeighbour};
use pointlime::pipeline::{network_input_channels, ExplainConfig};
use pointlime::synthetic::Composite;
use pointlime::Classifier;

use crate::competence::CompetenceArgs;

/// A foreign scan with fewer points than this is a format test, not a scan of anything.
const MIN_POINTS: usize = 100;

/// One domain's scans, drawn as the model's input.
struct Scans {
    name: String,
    inputs: Vec<NetworkInput>,
    /// Each input's file (a composite's: the object it was made of).
    paths: Vec<String>,
    /// Why scans were passed over, in words (empty when none were).
    passed_over: String,
}

/// One domain scored by every detector.
#[derive(Serialize)]
struct Scored {
    name: String,
    scans: usize,
    passed_over: String,
    /// Scans the shipped check flags (competence at or below the alarm level).
    flagged: usize,
    /// Against the in-domain scans; empty for those themselves.
    detectors: Vec<Measured>,
    /// Each scan's file (a composite's: the object it was made of), in `scores`' order.
    paths: Vec<String>,
    /// Per scan, each detector's score in `detectors`' order (higher: more like training).
    scores: Vec<[f64; 6]>,
}

pub fn run(model: &dyn Classifier, args: &CompetenceArgs, data: &Path) -> Result<()> {
    let name = args.model.name();
    let Some(domain) = model.domain() else {
        bail!("{name}: the model has no competence statistics; record them with --fit");
    };
    if model.per_point().is_some() {
        bail!("{name}: --evaluate measures classifiers of whole scans; this one labels points");
    }
    if args.foreign.is_empty() && args.composites.is_none() {
        bail!("give at least one --foreign NAME=PATH or --composites DALES_DIR to measure against");
    }
    let t0 = Instant::now();
    let ds = Dataset::open_any(data)?;
    ds.check_classes(name.as_ref(), model.class_names())?;
    let own = ExplainConfig {
        up: Some(args.up.unwrap_or(model.up())),
        ..ExplainConfig::default()
    };
    let train = ds.split(Split::Train);
    let test = ds.split(Split::Test);
    if train.is_empty() || test.is_empty() {
        bail!(
            "{}: --evaluate needs a training and a test split (the model's own data)",
            data.display()
        );
    }
    let memory = every(competence::read_inputs(model, &train, &own))?;
    let memory = competence::evidence(model, &memory)?.context("the model gives no feature")?;
    let nearest = NearestNeighbour::new(&memory.features, domain.feature_dim);

    let inside = Scans {
        name: format!("{} (test split)", data.display()),
        inputs: every(competence::read_inputs(model, &test, &own))?,
        paths: names(&test),
        passed_over: String::new(),
    };
    let inside = score(model, domain, &nearest, inside, None, args)?;
    let mut domains = Vec::new();
    for spec in &args.foreign {
        domains.push(foreign(model, spec)?);
    }
    if let Some(dir) = &args.composites {
        domains.extend(composites(
            model,
            dir,
            args.seed,
            args.write_composites.as_deref(),
        )?);
    }
    let scored = domains
        .into_iter()
        .map(|d| score(model, domain, &nearest, d, Some(&inside.scores), args))
        .collect::<Result<Vec<_>>>()?;
    let secs = t0.elapsed().as_secs_f64();
    let tables = markdown(&name, domain, &inside, &scored, args);
    out!("{tables}")?;
    outln!("({:.1} s)", secs)?;
    if let Some(path) = &args.markdown {
        std::fs::write(path, &tables).with_context(|| format!("{}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "model": name,
            "data": data.display().to_string(),
            "alarm_level": domain.alarm_level,
            "detectors": Detector::ALL,
            "bootstrap": args.bootstrap,
            "seed": args.seed,
            "seconds": secs,
            "in_domain": inside,
            "foreign": scored,
        });
        pointlime::io::write_json(path, &report)?;
    }
    Ok(())
}

fn names(items: &[&Item]) -> Vec<String> {
    items.iter().map(|i| i.path.display().to_string()).collect()
}

/// Every scan's input, or the first error.
fn every(read: Vec<pointlime::Result<(NetworkInput, usize)>>) -> Result<Vec<NetworkInput>> {
    read.into_iter()
        .map(|r| Ok(r?.0))
        .collect::<Result<Vec<_>>>()
}

/// The scans that read and hold at least [`MIN_POINTS`] with their names, and what was passed
/// over, in words.
fn readable(
    read: Vec<pointlime::Result<(NetworkInput, usize)>>,
    names: Vec<String>,
) -> (Vec<NetworkInput>, Vec<String>, String) {
    let (mut failed, mut small) = (0, 0);
    let mut kept = Vec::new();
    let mut kept_names = Vec::new();
    for (r, name) in read.into_iter().zip(names) {
        match r {
            Ok((input, points)) if points >= MIN_POINTS => {
                kept.push(input);
                kept_names.push(name);
            }
            Ok(_) => small += 1,
            Err(_) => failed += 1,
        }
    }
    let mut why = Vec::new();
    if failed > 0 {
        why.push(format!("{failed} do not read"));
    }
    if small > 0 {
        why.push(format!("{small} hold fewer than {MIN_POINTS} points"));
    }
    (kept, kept_names, why.join(", "))
}

/// A `--foreign NAME[:UP]=PATH` domain.
fn foreign(model: &dyn Classifier, spec: &str) -> Result<Scans> {
    let Some((label, path)) = spec.split_once('=') else {
        bail!("--foreign {spec}: expected NAME=PATH or NAME:UP=PATH");
    };
    let (name, up) = match label.split_once(':') {
        Some((name, up)) => {
            let up: Axis = up
                .parse()
                .map_err(|e| anyhow::anyhow!("--foreign {spec}: {e}"))?;
            (name, Some(up))
        }
        None => (label, None),
    };
    let path = Path::new(path);
    let config = ExplainConfig {
        up,
        ..ExplainConfig::default()
    };
    let dataset;
    let listed: Vec<Item>;
    let items: Vec<&Item> = if path.is_file() || path.join("000.xyz").is_file() {
        dataset = Dataset::open_any(path)?;
        dataset.items.iter().collect()
    } else {
        listed = pointlime::batch::discover(path, None)?
            .into_iter()
            .map(|rel| path.join(rel))
            .filter(|p| pointlime::io::format_of(p).is_ok())
            .map(|path| Item {
                path,
                class: 0,
                split: Split::Test,
                group: None,
                labels: None,
                window: None,
            })
            .collect();
        listed.iter().collect()
    };
    if items.is_empty() {
        bail!("--foreign {spec}: no scans found");
    }
    let (inputs, paths, passed_over) = readable(
        competence::read_inputs(model, &items, &config),
        names(&items),
    );
    Ok(Scans {
        name: name.to_string(),
        inputs,
        paths,
        passed_over,
    })
}

/// Both [`Composite`] domains, from the trees and poles of the DALES objects in `dir`; each
/// composite written under `write` (`a/`, `b/`) when given.
fn composites(
    model: &dyn Classifier,
    dir: &Path,
    seed: u64,
    write: Option<&Path>,
) -> Result<Vec<Scans>> {
    let ds = Dataset::open_any(dir)?;
    let objects: Vec<&Item> = ds
        .items
        .iter()
        .filter(|i| matches!(ds.class_names[i.class].as_str(), "tree" | "pole"))
        .collect();
    if objects.is_empty() {
        bail!(
            "{}: no tree or pole objects to make composites of",
            dir.display()
        );
    }
    let config = ExplainConfig {
        up: Some(Axis::Z),
        ..ExplainConfig::default()
    };
    // Read once, for every generator; each keeps its index in `objects`, which seeds it.
    let read: Vec<pointlime::Result<Vec<[f64; 3]>>> = objects
        .par_iter()
        .map(|item| item.read().map(|c| c.positions))
        .collect();
    let unread = read.iter().filter(|r| r.is_err()).count();
    let readable_objects: Vec<(usize, &Item, Vec<[f64; 3]>)> = objects
        .iter()
        .zip(read)
        .enumerate()
        .filter_map(|(i, (item, r))| Some((i, *item, r.ok()?)))
        .collect();
    Composite::ALL
        .iter()
        .enumerate()
        .map(|(g, &kind)| {
            let out = write.map(|w| w.join(["a", "b", "c"][g]));
            if let Some(out) = &out {
                std::fs::create_dir_all(out).with_context(|| out.display().to_string())?;
            }
            // A composite that cannot be written fails the run; an object that does not read is
            // counted with the scans passed over.
            type Made = (pointlime::Result<(NetworkInput, usize)>, String);
            let made: Vec<Option<Made>> = readable_objects
                .par_iter()
                .map(|(i, item, object)| -> pointlime::Result<Option<Made>> {
                    let (i, name) = (*i, item.path.display().to_string());
                    let seed = seed ^ ((g as u64) << 32 | i as u64).wrapping_mul(0x2545_f491);
                    let Some(points) = kind.make(object, seed) else {
                        return Ok(None);
                    };
                    let cloud = PointCloud::from_positions(points, FileFormat::Las);
                    if let Some(out) = &out {
                        let stem = item.path.file_stem().unwrap_or_default();
                        let path = out.join(stem).with_extension("laz");
                        pointlime::io::write(&path, &cloud, Default::default())?;
                    }
                    let input = network_input_channels(&cloud, model, &config)
                        .map_err(|e| e.in_file(&item.path));
                    Ok(Some((input.map(|i| (i, cloud.len())), name)))
                })
                .collect::<pointlime::Result<_>>()?;
            let read: Vec<Made> = made.into_iter().flatten().collect();
            let cut = readable_objects.len() - read.len();
            let (read, names): (Vec<_>, Vec<_>) = read.into_iter().unzip();
            let (inputs, paths, why) = readable(read, names);
            let passed_over = [
                (unread > 0).then(|| format!("{unread} objects do not read")),
                (!why.is_empty()).then_some(why),
                (cut > 0).then(|| format!("{cut} objects keep fewer than 50 points in the cut")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            Ok(Scans {
                name: kind.name().to_string(),
                inputs,
                paths,
                passed_over,
            })
        })
        .collect()
}

/// Scores one domain's scans; against `inside`'s scores when given.
fn score(
    model: &dyn Classifier,
    domain: &Domain,
    nearest: &NearestNeighbour,
    scans: Scans,
    inside: Option<&[[f64; 6]]>,
    args: &CompetenceArgs,
) -> Result<Scored> {
    let ev = competence::evidence(model, &scans.inputs)?.context("the model gives no feature")?;
    let classes = model.class_names().len();
    let rows: Vec<(bool, [f64; 6])> = ev
        .features
        .chunks_exact(domain.feature_dim)
        .zip(ev.shapes.chunks_exact(competence::SHAPE_DIM))
        .zip(ev.logits.chunks_exact(classes))
        .map(|((f, s), l)| {
            let c = domain.assess(f, s);
            (c.in_domain, ood::scores(l, f, &c, nearest))
        })
        .collect();
    let scores: Vec<[f64; 6]> = rows.iter().map(|r| r.1).collect();
    Ok(Scored {
        name: scans.name,
        scans: rows.len(),
        passed_over: scans.passed_over,
        flagged: rows.iter().filter(|r| !r.0).count(),
        paths: scans.paths,
        detectors: inside.map_or_else(Vec::new, |inside| {
            ood::measure(inside, &scores, args.bootstrap, args.seed)
        }),
        scores,
    })
}

fn percent(share: f64) -> String {
    format!("{:.1}", 100.0 * share)
}

/// The two tables (AUROC, FPR95) and the detection rates at the shipped alarm level.
fn markdown(
    model: &str,
    domain: &Domain,
    inside: &Scored,
    foreign: &[Scored],
    args: &CompetenceArgs,
) -> String {
    let mut s = String::new();
    let heading: Vec<&str> = Detector::ALL.iter().map(|d| d.name()).collect();
    let head = |s: &mut String, what: &str| {
        let _ = writeln!(s, "| {what} | scans | {} |", heading.join(" | "));
        let _ = writeln!(s, "|---|---|{}", "---|".repeat(heading.len()));
    };
    let _ = writeln!(
        s,
        "`{model}` against its own {} ({} scans); 95% bootstrap intervals over {} resamples, seed {}.\n",
        inside.name, inside.scans, args.bootstrap, args.seed
    );
    let table = |s: &mut String, title: &str, cell: &dyn Fn(&Measured) -> String| {
        let _ = writeln!(s, "{title}\n");
        head(s, "foreign domain");
        for d in foreign {
            let cells: Vec<String> = d.detectors.iter().map(cell).collect();
            let _ = writeln!(s, "| {} | {} | {} |", d.name, d.scans, cells.join(" | "));
        }
    };
    table(&mut s, "AUROC (higher is better):", &|m| {
        format!(
            "{:.3} ({:.3}–{:.3})",
            m.auroc.value, m.auroc.low, m.auroc.high
        )
    });
    s.push('\n');
    table(&mut s, "FPR at 95% TPR, % (lower is better):", &|m| {
        let f = m.fpr95;
        format!(
            "{} ({}–{})",
            percent(f.value),
            percent(f.low),
            percent(f.high)
        )
    });
    let _ = writeln!(
        s,
        "\nAt the shipped alarm level (competence ≤ {}):\n\n| domain | scans | flagged | passed over |\n|---|---|---|---|",
        domain.alarm_level
    );
    for d in std::iter::once(inside).chain(foreign) {
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}%) | {} |",
            d.name,
            d.scans,
            d.flagged,
            percent(d.flagged as f64 / d.scans.max(1) as f64),
            if d.passed_over.is_empty() {
                "none"
            } else {
                &d.passed_over
            }
        );
    }
    s
}
