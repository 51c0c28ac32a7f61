//! `unico serve`, `unico users`, `unico campaigns`: the server and what it needs from a shell.

use crate::OutputFormat;
use clap::{Args, Subcommand};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use unico_app::staff::{Caller, Role};
use unico_app::{App, Code, Error, Result};

/// `unico serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Serve several retailers: a TOML file of `[[tenant]]` tables with `name` and `data`.
    #[arg(long)]
    tenants: Option<PathBuf>,
    /// How long a login lasts, hours.
    #[arg(long, default_value_t = 12)]
    session_hours: i64,
    /// The largest upload, MiB.
    #[arg(long, default_value_t = 512)]
    max_upload_mb: usize,
    /// Seconds a stopping server waits for running jobs before it exits (a job cut there is
    /// reported interrupted at the next start).
    #[arg(long, default_value_t = 30)]
    stop_grace_secs: u64,
    /// Logins, shoppers' registrations and link codes allowed a minute per e-mail or card
    /// (four times as many per client address).
    #[arg(long, default_value_t = 5)]
    logins_per_minute: u32,
    /// Mark the session cookies Secure (HTTPS only): use it whenever browsers reach the
    /// server over HTTPS, directly or through a proxy.
    #[arg(long)]
    secure_cookies: bool,
}

/// The demo's last step: the back office's users, goals, a published campaign and tickets,
/// then (unless `no_serve`) the server on `addr`.
pub fn demo(data: &Path, no_serve: bool, addr: &str) -> Result<()> {
    let app = App::open(data)?;
    // The example policy under a name of its own: planning the example itself still works.
    let policy = include_str!("../../../../docs/examples/policy.toml").replacen(
        "name = \"January loyalty fortnight\"",
        "name = \"Demo loyalty fortnight\"",
        1,
    );
    let office = app.seed_demo_office(&policy)?;
    if let Some(c) = &office.campaign {
        println!("Published the campaign \"{c}\" (policy docs/examples/policy.toml)");
    }
    println!("{} goals, {} shoppers' tickets for the back office", office.goals, office.tickets);
    if office.slots > 0 {
        println!(
            "Click-and-collect: {} pickup slots and {} orders at the first store (Orders in the back office)",
            office.slots, office.orders
        );
    }
    println!("Back-office logins (passwords are shown once):");
    for l in &office.logins {
        let store = l.store_id.as_deref().map(|s| format!(" (store {s})")).unwrap_or_default();
        match &l.password {
            Some(p) => println!("  {:<14} {:<26} {p}{store}", l.role.as_str(), l.email),
            None => println!("  {:<14} {:<26} (already there: password unchanged){store}", l.role.as_str(), l.email),
        }
    }
    if no_serve {
        println!("Serve them with  unico --data {} serve", data.display());
        return Ok(());
    }
    println!("The back office: http://{addr}/office/   the shoppers' app: http://{addr}/app/   (Ctrl-C stops)");
    serve(
        data,
        ServeArgs {
            addr: addr.to_string(),
            tenants: None,
            session_hours: 12,
            max_upload_mb: 512,
            stop_grace_secs: 30,
            logins_per_minute: 5,
            secure_cookies: false,
        },
    )
}

/// Serves until SIGTERM or Ctrl-C, then finishes the requests under way.
pub fn serve(data: &Path, args: ServeArgs) -> Result<()> {
    init_logs();
    let tenants = match &args.tenants {
        Some(file) => unico_server::read_tenants(file)?,
        None => [("default".to_string(), data.to_path_buf())].into_iter().collect(),
    };
    let mut config = unico_server::Config {
        tenants,
        session_hours: args.session_hours,
        max_body_bytes: args.max_upload_mb.saturating_mul(1024 * 1024),
        logins_per_minute: args.logins_per_minute.max(1),
        secure_cookies: args.secure_cookies,
        ..Default::default()
    };
    if let Some(ms) = std::env::var("UNICO_TEST_JOB_PAUSE_MS").ok().and_then(|v| v.parse().ok()) {
        config.job_pause = Some(std::time::Duration::from_millis(ms));
    }
    let server = unico_server::Server::open(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::with_source(Code::Internal, "cannot start the server's runtime", e))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .map_err(|e| Error::with_source(Code::InputInvalid, format!("cannot listen on {}", args.addr), e))?;
        let addr = listener.local_addr().map_err(|e| Error::with_source(Code::Io, "no local address", e))?;
        // The first line says where it listens (a test or a supervisor reads it).
        println!("listening on http://{addr}");
        tracing::info!(%addr, "listening");
        server.serve(listener, shutdown()).await.map_err(|e| Error::with_source(Code::Io, "the server stopped", e))
    });
    // Jobs still running get a while to end; past it the process exits and the next start
    // reports them interrupted (they publish whole or not at all).
    runtime.shutdown_timeout(std::time::Duration::from_secs(args.stop_grace_secs));
    served
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("stopping: finishing the requests under way");
}

fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("UNICO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// `unico users`.
#[derive(Subcommand)]
pub enum UsersCommand {
    /// Add a user. Without --password-stdin, a one-time password is printed on the last line.
    Add {
        /// Their e-mail (the login).
        email: String,
        /// admin, marketing, store_manager or support.
        #[arg(long)]
        role: String,
        /// A store manager's store.
        #[arg(long)]
        store: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Disable a user: their sessions end and they cannot log in again.
    Disable {
        /// Their e-mail.
        email: String,
    },
}

/// Runs `unico users …`.
pub fn users(app: &App, command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Add { email, role, store, password_stdin } => {
            let role = Role::parse(&role).ok_or_else(|| {
                Error::new(Code::InputInvalid, "--role is admin, marketing, store_manager or support")
            })?;
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| Error::with_source(Code::Io, "cannot read the password", e))?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let added = app.add_user(&email, role, store.as_deref(), password.as_deref(), &Caller::cli())?;
            println!("user {} added as {}", added.user.email, added.user.role);
            if let Some(p) = added.password {
                println!("one-time password (shown once):");
                println!("{p}");
            }
        }
        UsersCommand::List { format } => {
            let users = app.users()?;
            match format {
                OutputFormat::Json => super::print_json(&users),
                OutputFormat::Table => {
                    println!("{:<32} {:<14} {:<10} {:<10} created", "email", "role", "store", "state");
                    for u in users {
                        let state = if u.disabled_at.is_some() { "disabled" } else { "active" };
                        let store = u.store_id.as_deref().unwrap_or("");
                        println!("{:<32} {:<14} {:<10} {:<10} {}", u.email, u.role, store, state, u.created_at);
                    }
                }
            }
        }
        UsersCommand::Disable { email } => {
            let u = app.disable_user(&email, &Caller::cli())?;
            println!("user {} disabled", u.email);
        }
    }
    Ok(())
}

/// `unico campaigns`.
#[derive(Subcommand)]
pub enum CampaignsCommand {
    /// The stored campaigns with their state (planned, published, stopped).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Publish a planned campaign: its offers reach the app and the tills from its first day.
    Publish {
        /// The campaign's id (name and first day, as `plan` printed it).
        id: String,
    },
    /// Stop a published campaign: its offers reach no one any more.
    Stop {
        /// The campaign's id.
        id: String,
    },
}

/// Runs `unico campaigns …`.
pub fn campaigns(app: &App, command: CampaignsCommand) -> Result<()> {
    match command {
        CampaignsCommand::List { format } => {
            let list = app.campaigns()?;
            match format {
                OutputFormat::Json => super::print_json(&list),
                OutputFormat::Table => {
                    println!("{:<40} {:<10} {:<10} {:<10} {:>8}", "id", "status", "from", "to", "offers");
                    for c in list {
                        println!(
                            "{:<40} {:<10} {:<10} {:<10} {:>8}",
                            c.id, c.status, c.valid_from, c.valid_to, c.offers
                        );
                    }
                }
            }
        }
        CampaignsCommand::Publish { id } => {
            let c = app.publish_campaign(&id, &Caller::cli())?;
            println!("campaign {:?} {} ({} offers, {} to {})", c.id, c.status, c.offers, c.valid_from, c.valid_to);
        }
        CampaignsCommand::Stop { id } => {
            let c = app.stop_campaign(&id, &Caller::cli())?;
            println!("campaign {:?} {}", c.id, c.status);
        }
    }
    Ok(())
}

/// `unico terminals`.
#[derive(Subcommand)]
pub enum TerminalsCommand {
    /// Register a till (or a web shop) of a store; its token is printed once, on the last line.
    Add {
        /// The store it is in.
        #[arg(long)]
        store: String,
        /// The till.
        #[arg(long)]
        till: String,
    },
    /// List the tills registered.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Revoke a till's token (a running server refuses it within a second).
    Revoke {
        /// Its number, as `list` shows it.
        id: i64,
    },
}

/// Runs `unico terminals …`.
pub fn terminals(app: &App, command: TerminalsCommand) -> Result<()> {
    match command {
        TerminalsCommand::Add { store, till } => {
            let (t, token) = app.terminal_add(&store, &till)?;
            println!("terminal {} added: till {} of store {}", t.id, t.till_id, t.store_id);
            println!("its token (shown once; send it as Authorization: Bearer <token>):");
            println!("{token}");
        }
        TerminalsCommand::List { format } => {
            let list = app.terminals()?;
            match format {
                OutputFormat::Json => super::print_json(&list),
                OutputFormat::Table => {
                    println!("{:>4} {:<12} {:<12} {:<10} created", "id", "store", "till", "state");
                    for t in list {
                        let state = if t.revoked_at.is_some() { "revoked" } else { "active" };
                        println!("{:>4} {:<12} {:<12} {:<10} {}", t.id, t.store_id, t.till_id, state, t.created_at);
                    }
                }
            }
        }
        TerminalsCommand::Revoke { id } => {
            if app.terminal_revoke(id)? {
                println!("terminal {id} revoked");
            } else {
                println!("terminal {id} was already revoked");
            }
        }
    }
    Ok(())
}
