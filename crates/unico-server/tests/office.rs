//! The back office's pages over HTTP, on SQLite and PostgreSQL: a form login sets the
//! session and goes back only to a back-office page; a form that changes something needs
//! the CSRF value and changes nothing without it; a store manager's pages hold their store
//! only; the policy editor shows a problem at its line; the KPI CSV is every KPI; the pages
//! load nothing from another host.

mod common;

use common::{PASSWORD, Running, config, postgres, tenant};

struct Page {
    status: u16,
    location: Option<String>,
    cookies: Vec<String>,
    body: String,
}

fn request(s: &Running, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    let url = format!("{}{path}", s.base);
    let r = match method {
        "GET" => {
            let mut r = s.agent.get(&url);
            if let Some(c) = cookie {
                r = r.header("Cookie", c);
            }
            r.call()
        }
        _ => {
            let mut r = s.agent.post(&url).header("Content-Type", "application/x-www-form-urlencoded");
            if let Some(c) = cookie {
                r = r.header("Cookie", c);
            }
            r.send(form.unwrap_or(""))
        }
    };
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    let cookies = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Page { status, location, cookies, body }
}

/// Logs in through the form; the Cookie header for the next requests and the CSRF value.
fn login(s: &Running, email: &str) -> (String, String) {
    let form =
        format!("email={}&password={}&next=%2Foffice%2Fkpis", email.replace('@', "%40"), PASSWORD.replace(' ', "+"));
    let p = request(s, "POST", "/office/login", None, Some(&form));
    assert_eq!((p.status, p.location.as_deref()), (303, Some("/office/kpis")), "{}", p.body);
    let value = |name: &str| {
        p.cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_string))
            .unwrap()
    };
    assert!(
        p.cookies
            .iter()
            .any(|c| c.starts_with("unico_session=") && c.contains("HttpOnly") && c.contains("SameSite=Strict"))
    );
    let (session, csrf) = (value("unico_session"), value("unico_csrf"));
    (format!("unico_session={session}; unico_csrf={csrf}"), csrf)
}

fn pages_on(database_url: Option<String>, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let app = tenant(tmp.path(), database_url, 9);
    let server = Running::start(vec![("default".into(), app.clone())], config());

    // A wrong password stays on the login page, saying so; an off-site `next` is ignored.
    let wrong = request(&server, "POST", "/office/login", None, Some("email=admin%40example.com&password=nope"));
    assert_eq!(wrong.status, 401, "{label}");
    assert!(wrong.body.contains("Wrong e-mail, password or retailer."));
    let form =
        format!("email=admin%40example.com&password={}&next=https%3A%2F%2Fevil.example%2F", PASSWORD.replace(' ', "+"));
    let off_site = request(&server, "POST", "/office/login", None, Some(&form));
    assert_eq!(off_site.location.as_deref(), Some("/office/"), "{label}: never sent to another site");

    let (admin, csrf) = login(&server, "admin@example.com");
    // Behind HTTPS the cookies are marked Secure.
    let secure = Running::start(
        vec![("default".into(), app.clone())],
        unico_server::Config { secure_cookies: true, ..config() },
    );
    let form = format!("email=admin%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let cookies = request(&secure, "POST", "/office/login", None, Some(&form)).cookies;
    assert!(cookies.len() == 2 && cookies.iter().all(|c| c.ends_with("; Secure")), "{label}: {cookies:?}");
    drop(secure);
    let home = request(&server, "GET", "/office/", Some(&admin), None);
    assert_eq!(home.status, 200, "{label}: {}", home.body);
    assert!(home.body.contains("admin@example.com · admin"), "{label}: the layout says who is logged in");
    for piece in home.body.split(['"', '\'']) {
        assert!(
            !piece.starts_with("http://") && !piece.starts_with("https://") || piece.starts_with("http://www.w3.org/"),
            "{label}: the page loads {piece}"
        );
    }
    // Adding a user without the CSRF value is refused, and nobody is added.
    let users = app.users().unwrap().len();
    let form = "email=new%40example.com&role=marketing&store_id=";
    let forged = request(&server, "POST", "/office/admin/users", Some(&admin), Some(form));
    assert_eq!(forged.status, 403, "{label}: {}", forged.body);
    assert_eq!(app.users().unwrap().len(), users);
    let wrong = request(&server, "POST", "/office/admin/users?csrf=0000", Some(&admin), Some(form));
    assert_eq!(wrong.status, 403, "{label}");
    let added = request(&server, "POST", &format!("/office/admin/users?csrf={csrf}"), Some(&admin), Some(form));
    assert_eq!(added.status, 200, "{label}: {}", added.body);
    assert!(added.body.contains("one-time password"));
    assert_eq!(app.users().unwrap().len(), users + 1);
    // A new version of the privacy policy, published from the admin page, is the current one.
    let published = request(
        &server,
        "POST",
        &format!("/office/admin/privacy?csrf={csrf}"),
        Some(&admin),
        Some("version=2027-01&text=Our+new+policy."),
    );
    assert_eq!(published.status, 303, "{label}: {}", published.body);
    assert_eq!(app.privacy_policy().unwrap().map(|p| p.0).as_deref(), Some("2027-01"), "{label}");
    let again = request(
        &server,
        "POST",
        &format!("/office/admin/privacy?csrf={csrf}"),
        Some(&admin),
        Some("version=2027-01&text=Changed."),
    );
    assert_eq!(again.status, 409, "{label}: a version is published once");
    assert!(request(&server, "GET", "/office/admin", Some(&admin), None).body.contains("<td>2027-01</td>"), "{label}");

    // The policy editor: a problem at its line, and nothing planned.
    let policy = common::chain::policy_from(app.today()).replace("total_cents = 150_000", "total_cents = \"lots\"");
    let line = policy.lines().position(|l| l.starts_with("total_cents = \"lots\"")).unwrap() + 1;
    let boundary = "office-test";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\n{policy}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nplan\r\n--{boundary}--\r\n"
    );
    let r = server
        .agent
        .post(&format!("{}/office/campaigns/plan?csrf={csrf}", server.base))
        .header("Cookie", &admin)
        .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .send(body.as_str())
        .unwrap();
    assert_eq!(r.status().as_u16(), 422, "{label}");
    let text = r.into_body().read_to_string().unwrap();
    let at = text.find(&format!("id=\"line-{line}\"")).expect("the line is listed");
    assert!(
        text[at..].split("</li>").next().unwrap().contains(&format!("line {line}: invalid type")),
        "{label}: the problem is at its line"
    );
    assert!(app.campaigns().unwrap().is_empty(), "{label}: nothing planned");

    // A campaign over the data's last fortnight: its preview, and its results against the
    // holdout with the always-valid test day by day.
    let last = app.last_day().unwrap();
    let as_of = last.checked_sub(jiff::Span::new().days(14)).unwrap();
    app.build_model(Some(&as_of.to_string()), None, &unico_app::Silent).unwrap();
    let file = tmp.path().join("policy.toml");
    std::fs::write(&file, common::chain::policy_from(as_of.checked_add(jiff::Span::new().days(1)).unwrap())).unwrap();
    let req = unico_app::plan::PlanRequest { policy: file, as_of: None, out: tmp.path().join("c"), dry_run: false };
    let planned = app.plan_campaign(&req, &unico_app::Silent).unwrap();
    let id = planned.campaign_id.replace(' ', "%20");
    let page = request(&server, "GET", &format!("/office/campaigns/{id}"), Some(&admin), None);
    assert_eq!(page.status, 200, "{label}: {}", page.body);
    for part in [
        "Budgets: expected use",
        "Offers by segment",
        "A sample of customers",
        "Uplift against the holdout",
        "The always-valid test day by day",
    ] {
        assert!(page.body.contains(part), "{label}: the campaign page shows {part}");
    }
    // A row per day of data in the campaign (its 14 days, all within the data).
    let rows = page
        .body
        .split("<caption>The always-valid test day by day (all offers)</caption>")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(rows.matches("<tr>").count(), 1 + 14, "{label}: a look per day");

    // A customer's view: P(alive) over time, and their offers with the one redeemed.
    app.publish_campaign(&planned.campaign_id, &unico_app::staff::Caller::cli()).unwrap();
    let mut offers = csv::Reader::from_path(tmp.path().join("c/offers.csv")).unwrap();
    let h = offers.headers().unwrap().clone();
    let at = |n: &str| h.iter().position(|x| x == n).unwrap();
    let first = offers.records().next().unwrap().unwrap();
    let (code, card) = (first[at("code")].to_string(), first[at("customer_id")].to_string());
    let (name, sku) = (first[at("product")].to_string(), first[at("sku")].to_string());
    let made = offers.records().count() + 1;
    let redeemed = tmp.path().join("redeemed.csv");
    std::fs::write(
        &redeemed,
        format!(
            "code,redeemed_at,discount_cents\n{code},{}T10:00:00Z,25\n",
            as_of.checked_add(jiff::Span::new().days(2)).unwrap()
        ),
    )
    .unwrap();
    app.learn_campaign(&planned.campaign_id, Some(&redeemed)).unwrap();
    let mine = {
        let mut r = csv::Reader::from_path(tmp.path().join("c/offers.csv")).unwrap();
        r.records().filter(|x| x.as_ref().unwrap()[at("customer_id")] == card).count()
    };
    assert!(made > mine);
    let view = request(&server, "GET", &format!("/office/customers/{card}"), Some(&admin), None);
    assert_eq!(view.status, 200, "{label}: {}", view.body);
    assert!(view.body.contains(&format!("Offers and redemptions: {mine} offers, 1 redeemed")), "{label}");
    assert!(view.body.contains(&format!("{name} ({sku})")), "{label}: products by their names");
    assert!(
        view.body.contains("<title id=\"palive-t\">P(alive) over the last 26 weeks</title>"),
        "{label}: the P(alive) chart"
    );
    assert!(
        view.body.contains("Consent history") && view.body.contains("Registrations and cards"),
        "{label}: admin sees the personal part"
    );

    // An export uploaded from the data page: imported as a job, its progress page, and its
    // rejected row downloadable with its line and reason.
    let source = std::fs::read_to_string(tmp.path().join("chain/receipts.csv")).unwrap();
    let mut upload: Vec<&str> = source.lines().take(6).collect();
    upload.push("R-BAD,1,not a time,S001,,100001,1,1.00,0.00,1.00,store");
    let upload = upload.join("\n") + "\n";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"dataset\"\r\n\r\nreceipts\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"receipts.csv\"\r\nContent-Type: text/csv\r\n\r\n{upload}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"mapping\"\r\n\r\n\r\n--{boundary}--\r\n"
    );
    let r = server
        .agent
        .post(&format!("{}/office/data/upload?csrf={csrf}", server.base))
        .header("Cookie", &admin)
        .header("Content-Type", &format!("multipart/form-data; boundary={boundary}"))
        .send(body.as_str())
        .unwrap();
    let status = r.status().as_u16();
    let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(status, 303, "{label}: {}", r.into_body().read_to_string().unwrap_or_default());
    let job = location.unwrap();
    assert!(job.starts_with("/office/jobs/"), "{label}: {job}");
    let done = (0..200)
        .find_map(|_| {
            let p = request(&server, "GET", &job, Some(&admin), None);
            if p.body.contains("http-equiv=\"refresh\"") {
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            } else {
                Some(p)
            }
        })
        .expect("the import ends");
    assert!(done.body.contains("Done at"), "{label}: {}", done.body);
    let link = done
        .body
        .split("href=\"/office/data/rejects/")
        .nth(1)
        .unwrap_or_else(|| panic!("a rejects link: {}", done.body))
        .split('"')
        .next()
        .unwrap();
    let rejects = request(&server, "GET", &format!("/office/data/rejects/{link}"), Some(&admin), None);
    assert_eq!(rejects.status, 200, "{label}");
    assert!(rejects.body.contains("R-BAD") && rejects.body.lines().count() == 2, "{label}: {}", rejects.body);
    let (line_col, header) = (rejects.body.lines().next().unwrap(), rejects.body.lines().nth(1).unwrap());
    assert!(
        line_col.starts_with("line,") && header.starts_with("7,"),
        "{label}: the rejected row's line: {}",
        rejects.body
    );
    assert_eq!(
        request(&server, "GET", "/office/data/rejects/..%2Funico.toml", Some(&admin), None).status,
        404,
        "{label}"
    );

    // The KPI CSV: every KPI, a row per week.
    let csv = request(&server, "GET", "/office/kpis.csv?by=week", Some(&admin), None);
    assert_eq!(csv.status, 200, "{label}");
    let header = csv.body.lines().next().unwrap();
    for k in unico_app::kpi::ALL_KPIS {
        assert!(header.split(',').any(|c| c == k.name()), "{label}: {} is in the CSV", k.name());
    }
    assert!(csv.body.lines().count() > 5);

    // A store manager: their store's KPIs and tickets only.
    let (store, _) = login(&server, "store@example.com");
    let kpis = request(&server, "GET", "/office/kpis?split=none", Some(&store), None);
    assert_eq!(kpis.status, 200, "{label}: {}", kpis.body);
    assert!(kpis.body.contains("<option value=\"S001\""), "{label}");
    assert!(!kpis.body.contains("<option value=\"S002\""), "{label}: no other store to choose");
    let other = request(&server, "GET", "/office/kpis?store=S002", Some(&store), None);
    assert_eq!(other.status, 403, "{label}");
    let other_csv = request(&server, "GET", "/office/kpis.csv?store=S002", Some(&store), None);
    assert_eq!(other_csv.status, 403, "{label}");
    let own_csv = request(&server, "GET", "/office/kpis.csv?by=week", Some(&store), None);
    assert!(own_csv.body.lines().skip(1).all(|l| l.split(',').nth(3) == Some("S001")), "{label}: S001's rows only");
    assert_eq!(request(&server, "GET", "/office/admin", Some(&store), None).status, 403, "{label}");
    // Logging out ends the session: the next page goes to the login page.
    let out = request(
        &server,
        "POST",
        &format!("/office/logout?csrf={}", store.rsplit('=').next().unwrap()),
        Some(&store),
        None,
    );
    assert_eq!(out.status, 303, "{label}");
    let after = request(&server, "GET", "/office/kpis", Some(&store), None);
    assert_eq!((after.status, after.location.as_deref()), (303, Some("/office/login?next=/office/kpis")), "{label}");
    // The page asked for, with its query, is where the login page sends the browser back.
    let asked = request(&server, "GET", "/office/kpis?split=store&by=month", Some(&store), None);
    let to = asked.location.unwrap();
    assert_eq!(to, "/office/login?next=/office/kpis%3Fsplit%3Dstore%26by%3Dmonth", "{label}");
    let form = request(&server, "GET", &to, None, None);
    assert!(form.body.contains("value=\"/office/kpis?split=store&#38;by=month\""), "{label}: {}", form.body);
}

#[test]
fn the_back_office_pages_on_sqlite_and_postgres() {
    pages_on(None, "sqlite");
    if let Some(url) = postgres() {
        pages_on(Some(url), "postgres");
    }
}
