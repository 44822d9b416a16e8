//! Confirmation of destructive steps: the person types the target's name; `--yes` answers for
//! unattended runs; production targets also need `--allow-prod`.
//!
//! The decision is made at the side effect (just before the step runs) by [`decide`], and once
//! up front by [`preflight`] so an unattended run without `--yes` is refused before anything ran.
//! The same path serves explicit confirmation points (`uses: confirm`, see
//! [`super::Step::confirmation_target`]): only the name to type comes from the step's inputs.

use std::io::IsTerminal;

/// What the person is asked to confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfirmRequest {
    pub step: String,
    /// The name the person must type.
    pub target: String,
    pub description: String,
    pub prod: bool,
}

/// The flags that answer on the person's behalf.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Policy {
    /// `--yes`: confirm every destructive step without asking.
    pub yes: bool,
    /// `--allow-prod`: permit destructive steps on production targets.
    pub allow_prod: bool,
}

/// Asks a person; tests script the answers.
pub(crate) trait Confirmer: Send + Sync {
    /// Whether a person can be asked at all (a terminal is attached).
    fn interactive(&self) -> bool;
    /// Asks for the target name and returns what was typed.
    fn ask(&self, request: &ConfirmRequest) -> std::io::Result<String>;
}

/// Why a destructive step may not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(
        "refused step `{step}`: target `{target}` is production; pass --allow-prod to allow it"
    )]
    Prod { step: String, target: String },
    #[error("refused step `{step}`: it is destructive (target `{target}`) and there is no terminal to confirm it; pass --yes to confirm without asking")]
    NoTerminal { step: String, target: String },
    #[error("refused step `{step}`: confirmation declined (expected `{target}`, nothing was changed by this step)")]
    Declined { step: String, target: String },
    #[error("refused step `{step}`: failed to read the confirmation: {message}")]
    Prompt { step: String, message: String },
}

/// Checks, without asking, whether the run could confirm this step at all.
pub(crate) fn preflight(
    policy: Policy,
    confirmer: &dyn Confirmer,
    request: &ConfirmRequest,
) -> Result<(), Refusal> {
    if request.prod && !policy.allow_prod {
        return Err(Refusal::Prod {
            step: request.step.clone(),
            target: request.target.clone(),
        });
    }
    if !policy.yes && !confirmer.interactive() {
        return Err(Refusal::NoTerminal {
            step: request.step.clone(),
            target: request.target.clone(),
        });
    }
    Ok(())
}

/// Decides whether the step may run now, asking the person when needed.
pub(crate) fn decide(
    policy: Policy,
    confirmer: &dyn Confirmer,
    request: &ConfirmRequest,
) -> Result<(), Refusal> {
    preflight(policy, confirmer, request)?;
    if policy.yes {
        return Ok(());
    }
    let typed = confirmer.ask(request).map_err(|e| Refusal::Prompt {
        step: request.step.clone(),
        message: e.to_string(),
    })?;
    if typed.trim() == request.target {
        Ok(())
    } else {
        Err(Refusal::Declined {
            step: request.step.clone(),
            target: request.target.clone(),
        })
    }
}

/// Asks on the terminal with dialoguer.
#[derive(Debug, Default)]
pub(crate) struct TerminalConfirmer;

impl Confirmer for TerminalConfirmer {
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    fn ask(&self, request: &ConfirmRequest) -> std::io::Result<String> {
        let prompt = format!(
            "step `{}` will {}.\nType `{}` to confirm",
            request.step, request.description, request.target
        );
        dialoguer::Input::<String>::new()
            .with_prompt(prompt)
            .allow_empty(true)
            .interact_text()
            .map_err(std::io::Error::from)
    }
}

#[cfg(test)]
pub(crate) use scripted::ScriptedConfirmer;

#[cfg(test)]
mod scripted {
    //! A [`Confirmer`] for tests.

    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::{ConfirmRequest, Confirmer};

    /// Answers from a script; records what it was asked (tests only).
    #[derive(Debug, Default)]
    pub(crate) struct ScriptedConfirmer {
        pub interactive: bool,
        answers: Mutex<VecDeque<String>>,
        asked: Mutex<Vec<ConfirmRequest>>,
    }

    impl ScriptedConfirmer {
        pub(crate) fn new(interactive: bool, answers: &[&str]) -> Self {
            Self {
                interactive,
                answers: Mutex::new(answers.iter().map(|a| a.to_string()).collect()),
                asked: Mutex::default(),
            }
        }

        pub(crate) fn asked(&self) -> Vec<ConfirmRequest> {
            self.asked.lock().map(|a| a.clone()).unwrap_or_default()
        }
    }

    impl Confirmer for ScriptedConfirmer {
        fn interactive(&self) -> bool {
            self.interactive
        }

        fn ask(&self, request: &ConfirmRequest) -> std::io::Result<String> {
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(request.clone());
            }
            let answer = self.answers.lock().ok().and_then(|mut a| a.pop_front());
            answer.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no scripted answer left")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prod: bool) -> ConfirmRequest {
        ConfirmRequest {
            step: "drop".into(),
            target: "app-dev".into(),
            description: "drop it".into(),
            prod,
        }
    }

    #[test]
    fn typed_name_must_match() {
        let c = ScriptedConfirmer::new(true, &["app-dev", "app-prod"]);
        assert_eq!(decide(Policy::default(), &c, &req(false)), Ok(()));
        assert!(matches!(
            decide(Policy::default(), &c, &req(false)),
            Err(Refusal::Declined { .. })
        ));
        assert_eq!(c.asked().len(), 2);
    }

    #[test]
    fn no_terminal_without_yes_is_refused_and_yes_does_not_ask() {
        let c = ScriptedConfirmer::new(false, &[]);
        assert!(matches!(
            decide(Policy::default(), &c, &req(false)),
            Err(Refusal::NoTerminal { .. })
        ));
        let yes = Policy {
            yes: true,
            allow_prod: false,
        };
        assert_eq!(decide(yes, &c, &req(false)), Ok(()));
        assert!(c.asked().is_empty());
    }

    #[test]
    fn prod_needs_allow_prod_even_with_yes() {
        let c = ScriptedConfirmer::new(true, &["app-dev"]);
        let yes = Policy {
            yes: true,
            allow_prod: false,
        };
        let err = decide(yes, &c, &req(true)).unwrap_err();
        assert!(err.to_string().contains("--allow-prod"), "{err}");
        let both = Policy {
            yes: true,
            allow_prod: true,
        };
        assert_eq!(decide(both, &c, &req(true)), Ok(()));
    }
}
