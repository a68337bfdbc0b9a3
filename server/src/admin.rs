//! `realms admin ...`: create a root user or reset a password from the shell, for operators who
//! are locked out of the console. Passwords come from `--password-stdin` or the environment,
//! never from the command line where other users could see them.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Subcommand;
use realms_core::Config;
use realms_core::accounts::password;
use realms_core::store::users::{self, NewUser, Role};
use realms_core::store::{Store, sessions};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a root user. The password is read from standard input.
    CreateRoot {
        /// Username of the new root user.
        #[arg(long, default_value = "root")]
        username: String,
        /// Email of the new root user (default `<username>@localhost`).
        #[arg(long)]
        email: Option<String>,
    },
    /// Set a new password for a user (by username or email) and end their sessions. The password
    /// is read from standard input.
    ResetPassword {
        /// Username or email.
        user: String,
    },
}

fn read_password(config: &Config) -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    let password = text.trim_end_matches(['\n', '\r']).to_owned();
    if let Err(problem) = password::check_strength(&password, &config.auth) {
        bail!("{problem}");
    }
    Ok(password)
}

pub async fn run(config: Config, command: AdminCommand) -> anyhow::Result<()> {
    let path = config.resolved_sqlite_path()?;
    let (store, _) = Store::open(&path).await.context("opening the database")?;
    match command {
        AdminCommand::CreateRoot { username, email } => {
            let password = read_password(&config)?;
            let hash = password::hash(&password, &config.auth).await?;
            let email = email.unwrap_or_else(|| format!("{username}@localhost"));
            let new = NewUser {
                username: username.clone(),
                email,
                password_hash: hash,
                role: Role::Root,
                user_group_id: None,
            };
            let user = store
                .write(move |tx| users::insert(tx, &new))
                .await
                .context("creating the user")?;
            crate::say(&format!(
                "created root user `{}` (id {})",
                user.username, user.id
            ));
        }
        AdminCommand::ResetPassword { user } => {
            let password = read_password(&config)?;
            let hash = password::hash(&password, &config.auth).await?;
            let login = user.clone();
            let found = store
                .write(move |tx| {
                    let Some(user) = users::find_by_login(tx, &login)? else {
                        return Ok(None);
                    };
                    users::set_password_hash(tx, user.id, &hash)?;
                    sessions::delete_for_user(tx, user.id, None)?;
                    Ok(Some(user.username))
                })
                .await?;
            match found {
                Some(name) => crate::say(&format!(
                    "password of `{name}` reset; their sessions were ended"
                )),
                None => bail!("no user `{user}`"),
            }
        }
    }
    Ok(())
}
