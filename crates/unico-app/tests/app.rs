//! The service layer as an edge calls it: typed operations on an App, their error codes,
//! and lake passes called from an async runtime without blocking it.

use std::sync::Arc;
use unico_app::kpi::{Grain, KpiRequest};
use unico_app::plan::PlanRequest;
use unico_app::{App, Code, Silent};

fn env() -> unico_app::Env {
    Arc::new(|_| None)
}

/// A small simulated chain, imported and modelled.
fn chain(dir: &std::path::Path) -> App {
    let app = App::init_with(&dir.join("data"), env()).unwrap();
    let config = unico_sim::ChainConfig { customers: 300, days: 120, seed: 9, ..Default::default() };
    let mut steps = 0;
    app.load_simulated_chain(&config, &dir.join("chain"), &Silent, &mut |_| steps += 1).unwrap();
    assert_eq!(steps, 6, "generated, three lake imports, merged, customers");
    app
}

#[test]
fn operations_answer_with_typed_results_and_stable_error_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = App::open_with(&tmp.path().join("nowhere"), env()).err().unwrap();
    assert_eq!(missing.code(), Code::DataDirMissing);

    let app = chain(tmp.path());
    assert_eq!(app.model_params().unwrap_err().code(), Code::ModelMissing);
    assert_eq!(app.customer("no-such-card", None).unwrap_err().code(), Code::CustomerNotFound);
    let bad_date = app.build_model(Some("2025-02-30"), None, &Silent).unwrap_err();
    assert_eq!(bad_date.code(), Code::InputInvalid);

    let built = app.build_model(None, None, &Silent).unwrap();
    assert!(built.published.profiles > 0);
    assert_eq!(app.model_params().unwrap().as_of, built.params.as_of);

    // A policy with two problems: both reported, each at its line, and nothing planned.
    let policy = tmp.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[campaign]\nname = \"Spring\"\nvalid_from = \"2025-05-10\"\nvalid_to = \"2025-05-01\"\n\n[budget]\ntotal_cents = -5\nbasis = \"worst_case\"\n",
    )
    .unwrap();
    let out = tmp.path().join("campaign");
    let req = PlanRequest { policy: policy.clone(), as_of: None, out: out.clone(), dry_run: false };
    let e = app.plan_campaign(&req, &Silent).unwrap_err();
    assert_eq!(e.code(), Code::PolicyInvalid);
    let lines: Vec<usize> = e.problems().iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![4, 7], "{:?}", e.problems());
    assert!(!out.exists());

    // A good one plans, and planning it again is refused with its own code.
    std::fs::write(
        &policy,
        "[campaign]\nname = \"Spring\"\nvalid_from = \"2025-05-10\"\nvalid_to = \"2025-05-23\"\n\n[budget]\ntotal_cents = 20000\nbasis = \"worst_case\"\n",
    )
    .unwrap();
    let planned = app.plan_campaign(&req, &Silent).unwrap();
    assert_eq!(planned.campaign_id, "Spring 2025-05-10");
    assert!(planned.offers > 0 && planned.worst_cost_cents <= 20000, "{planned:?}");
    let again = PlanRequest { out: tmp.path().join("again"), ..req };
    assert_eq!(app.plan_campaign(&again, &Silent).unwrap_err().code(), Code::CampaignAlreadyStored);
    assert!(!tmp.path().join("again").exists(), "nothing written for a refused plan");
}

#[test]
fn a_lake_pass_runs_from_an_async_runtime_without_blocking_it() {
    let tmp = tempfile::tempdir().unwrap();
    let app = Arc::new(chain(tmp.path()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (report, heard) = rt.block_on(async {
        // The operation waits for a task of the runtime's only thread: it can only hear
        // from it if the runtime is not blocked by the operation.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let ticker = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(()).unwrap();
        });
        let req = KpiRequest {
            from: None,
            to: None,
            by: Grain::Month,
            by_store: false,
            by_channel: false,
            by_segment: false,
            store: None,
        };
        let (report, heard) = app
            .blocking(move |a| {
                let heard = rx.recv_timeout(std::time::Duration::from_secs(20)).is_ok();
                (a.kpis(&req, &Silent), heard)
            })
            .await;
        ticker.await.unwrap();
        let quality = app.blocking(|a| a.quality()).await.unwrap();
        assert!(quality.cards > 0);
        (report.unwrap(), heard)
    });
    assert!(heard, "the runtime ran other tasks while the lake pass ran");
    assert!(report.lines_read > 0 && !report.rows.is_empty());
    // The store is reached from the blocking thread too.
    let cards = rt.block_on(app.blocking(|a| a.cards())).unwrap();
    assert!(!cards.is_empty());
}

/// One receipt dated 2205 is kept (and counted as a warning) but does not move the model's
/// or the KPIs' default last day.
#[test]
fn an_implausible_date_is_kept_out_of_the_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let app = chain(tmp.path());
    let last_real = app.build_model(None, None, &Silent).unwrap().params.as_of;
    let odd = tmp.path().join("odd.csv");
    std::fs::write(
        &odd,
        "receipt_id,ts,store_id,customer_id,sku,quantity,unit_price,net_amount\nODD1,2205-03-01 10:00:00,S1,,100001,1,1.00,1.00\n",
    )
    .unwrap();
    let req = unico_app::import::ImportRequest {
        dataset: unico_lake::Dataset::Receipts,
        files: vec![odd],
        mapping: None,
        max_reject_rate: None,
        dedupe: false,
    };
    let report = app.import(&req, &Silent, &mut |_| {}).unwrap();
    assert_eq!(report.summaries[0].rows_imported, 1);
    assert_eq!(report.summaries[0].warnings.get("implausible_date"), Some(&1));
    assert_eq!(app.build_model(None, None, &Silent).unwrap().params.as_of, last_real);
    let kpis = app
        .kpis(
            &KpiRequest {
                from: None,
                to: None,
                by: Grain::Week,
                by_store: false,
                by_channel: false,
                by_segment: false,
                store: None,
            },
            &Silent,
        )
        .unwrap();
    assert!(kpis.to.year() < 2200, "{}", kpis.to);
}

#[test]
fn p_alive_over_time_ends_on_the_published_profile_and_falls_while_a_customer_is_away() {
    let tmp = tempfile::tempdir().unwrap();
    let app = chain(tmp.path());
    app.build_model(None, None, &Silent).unwrap();
    let mut checked = 0;
    let mut fell = 0;
    let mut two_cards = 0;
    for card in app.cards().unwrap().iter() {
        let profile = app.customer_profile(&card.card, None).unwrap();
        let series = app.p_alive_history(&card.card, 26).unwrap();
        assert_eq!(series.len(), profile.profiles.len(), "a series per card with a profile");
        if series.len() > 1 {
            two_cards += 1;
        }
        for (s, p) in series.iter().zip(&profile.profiles) {
            assert_eq!(s.customer_key, p.customer_key);
            let last = s.points.last().unwrap();
            // The model's date, judged from the lake's days as the build judged them.
            assert_eq!(last.day.to_string(), p.as_of);
            assert!(
                (last.p_alive - p.p_alive).abs() < 1e-9,
                "{}: {} vs the profile's {}",
                card.card,
                last.p_alive,
                p.p_alive
            );
            assert!(s.points.windows(2).all(|w| w[0].day < w[1].day));
            assert!(s.points.iter().all(|h| (0.0..=1.0).contains(&h.p_alive)));
            // After the last purchase P(alive) can only fall (no new evidence, more time away).
            let after: Vec<_> = s.points.iter().filter(|h| h.day.to_string() > p.last_purchase_date).collect();
            if after.len() >= 2 && after.first().unwrap().p_alive > after.last().unwrap().p_alive {
                fell += 1;
            }
            assert!(after.windows(2).all(|w| w[1].p_alive <= w[0].p_alive + 1e-12), "{}", card.card);
            checked += 1;
        }
    }
    assert!(two_cards > 0, "merged customers with two cards are among them");
    assert!(checked > 20, "{checked} customers with a profile");
    assert!(fell > 0, "someone away for weeks is less likely alive");
}

#[test]
fn the_review_compares_four_weeks_with_the_four_before_from_the_same_daily_figures() {
    use unico_app::kpi::{ALL_KPIS, Kpi};
    let tmp = tempfile::tempdir().unwrap();
    let app = chain(tmp.path());
    let kpis = [
        Kpi::parse("loyalty_share").unwrap(),
        Kpi::parse("revenue_cents").unwrap(),
        Kpi::parse("active_customers").unwrap(),
    ];
    let review = app.kpi_review(None, &kpis).unwrap();
    let to = review.to;
    let day = |n: i64| to.checked_add(jiff::Span::new().days(n)).unwrap().to_string();
    // The same days summed by hand from the daily report.
    let daily = |from: String, to: String| {
        let req = KpiRequest {
            from: Some(from),
            to: Some(to),
            by: Grain::Day,
            by_store: false,
            by_channel: false,
            by_segment: false,
            store: None,
        };
        let rows = app.kpis(&req, &Silent).unwrap().rows;
        let col = |name: &str| ALL_KPIS.iter().position(|k| k.name() == name).unwrap();
        let sum = |name: &str| rows.iter().map(|r| r.values[col(name)].unwrap_or(0.0)).sum::<f64>();
        (sum("revenue_card_cents") / sum("revenue_cents"), sum("revenue_cents"))
    };
    let (share, revenue) = daily(day(-27), day(0));
    let (share_before, revenue_before) = daily(day(-55), day(-28));
    let (share_week, _) = daily(day(-6), day(0));
    let [ls, rev, active] = &review.kpis[..] else { panic!() };
    assert!((ls.now.unwrap() - share).abs() < 1e-12 && (ls.previous.unwrap() - share_before).abs() < 1e-12);
    assert_eq!((rev.now, rev.previous), (Some(revenue), Some(revenue_before)));
    assert_eq!(ls.weekly.len(), 13);
    assert!((ls.weekly[12].unwrap() - share_week).abs() < 1e-12, "the last week ends on the last day");
    // 120 days of data: nothing a year ago; a count of distinct customers is not summable.
    assert_eq!((ls.last_year, rev.last_year), (None, None));
    assert_eq!((active.now, active.previous), (None, None));
}

/// The KPI cube folded slice by slice (as Spark folds it through the Python package: every
/// cardholder's lines in one slice, a receipt without a card in one slice, batches cut
/// anywhere) adds up to the cube of the whole lake, for every grain and split; and its rows
/// read back to the same cube.
#[test]
fn the_cubes_of_customer_slices_add_up_to_the_cube_of_the_lake() {
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, BooleanArray};
    use std::collections::BTreeMap;
    use unico_kpi::cube::{self, Cube, CubePass, Query, Segments, Split, key_hash};
    use unico_kpi::days::day_of;

    let tmp = tempfile::tempdir().unwrap();
    let app = chain(tmp.path());
    let lake = app.lake_view().unwrap();
    let costs = cube::unit_costs(&lake).unwrap();
    let files = lake.parquet_files(unico_lake::Dataset::Receipts).unwrap();
    let mut batches = Vec::new();
    for f in &files {
        unico_lake::read::for_each_batch(f, &[], |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
    }
    // Two segments and some cardholders left unscored.
    let mut segments = Segments { names: vec!["a".into(), "b".into()], ..Default::default() };
    for b in &batches {
        let key = b.column_by_name("customer_key").unwrap().as_string::<i32>();
        for k in key.iter().flatten() {
            let h = key_hash(k);
            if h % 3 != 2 {
                segments.of.insert(h, (h % 3) as u16);
            }
        }
    }
    assert!(segments.of.len() > 100, "cardholders: {}", segments.of.len());
    let slice_of = |b: &arrow_array::RecordBatch, i: usize| -> u64 {
        let key = b.column_by_name("customer_key").unwrap().as_string::<i32>();
        let rid = b.column_by_name("receipt_id").unwrap().as_string::<i32>();
        if key.is_null(i) { key_hash(rid.value(i)) % 3 } else { key_hash(key.value(i)) % 3 }
    };
    type Labelled = BTreeMap<(i32, Option<String>, Option<u16>, Option<String>), cube::Cell>;
    let by_names = |c: &Cube| -> Labelled {
        let name = |i: u16, names: &[String]| (i != cube::ALL).then(|| names[i as usize].clone());
        c.cells
            .iter()
            .map(|(&(p, g), cell)| {
                (
                    (
                        p,
                        name(g.store, &c.stores),
                        (g.channel != cube::ALL).then_some(g.channel),
                        name(g.segment, &c.segments),
                    ),
                    *cell,
                )
            })
            .collect()
    };
    let start = day_of(jiff::civil::date(2025, 1, 1));
    let cases = [
        (unico_kpi::days::Grain::Week, Split { store: true, channel: true, segment: false }),
        (unico_kpi::days::Grain::Month, Split { store: false, channel: false, segment: true }),
        (unico_kpi::days::Grain::Day, Split::default()),
    ];
    for (grain, split) in cases {
        let q =
            Query { from: start + 45, to: start + 100, grain, split, costs: &costs, segments: &segments, threads: 2 };
        let whole = cube::compute(&lake, &q, &|_, _| {}).unwrap();
        let mut passes: Vec<CubePass> = (0..3).map(|_| CubePass::new(&q)).collect();
        for b in &batches {
            // Cut into batches of 37 lines: a receipt and a customer straddle batches.
            for at in (0..b.num_rows()).step_by(37) {
                let chunk = b.slice(at, 37.min(b.num_rows() - at));
                for (s, pass) in passes.iter_mut().enumerate() {
                    let mask: BooleanArray =
                        (0..chunk.num_rows()).map(|i| Some(slice_of(&chunk, i) == s as u64)).collect();
                    let part = arrow_select::filter::filter_record_batch(&chunk, &mask).unwrap();
                    pass.push(&part).unwrap();
                }
            }
        }
        let mut merged = Cube::default();
        for p in passes {
            let c = p.finish();
            assert!(!c.cells.is_empty());
            merged.add(&c);
        }
        let label = format!("{grain:?} {split:?}");
        assert!(whole.cells.values().any(|c| c.retained > 0 && c.new > 0 && c.card.cost_cents > 0), "{label}");
        assert_eq!(by_names(&merged), by_names(&whole), "{label}");
        assert_eq!(
            (merged.lines, merged.first_period, merged.data_days),
            (whole.lines, whole.first_period, whole.data_days)
        );
        // The rows, cut in two and read back, are the same cube.
        let rows = merged.to_batch();
        let half = rows.num_rows() / 2;
        let back =
            Cube::from_batches(merged.first_period, [&rows.slice(0, half), &rows.slice(half, rows.num_rows() - half)])
                .unwrap();
        assert_eq!(by_names(&back), by_names(&whole), "{label}");
        assert_eq!(back.lines, whole.lines);
    }
    // A batch without a needed column is refused with its name.
    let segments = Segments::default();
    let q = Query {
        from: start,
        to: start + 10,
        grain: unico_kpi::days::Grain::Day,
        split: Split::default(),
        costs: &costs,
        segments: &segments,
        threads: 1,
    };
    let mut pass = CubePass::new(&q);
    let err = pass.push(&batches[0].project(&[0, 1]).unwrap()).unwrap_err();
    assert!(err.to_string().contains('`'), "{err}");
}
