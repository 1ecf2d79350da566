//! Commands run in a running container (exec probes): create an exec, attach to its output
//! until it ends or the timeout passes, then read its exit code.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use staticpod_core::runtime::{ExecResult, RuntimeError, RuntimeResult};

use crate::DockerRuntime;

/// The most output kept from a command, as the kubelet keeps for a probe.
const MAX_OUTPUT: usize = 10 * 1024;

impl DockerRuntime {
    /// Runs `command` in `container_id` and waits at most `timeout` for it.
    pub(crate) async fn exec(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        let call = |verb| self.call(verb, "container", container_id);
        let options = CreateExecOptions {
            cmd: Some(command.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(container_id, options)
            .await
            .map_err(|err| call("exec in").error(err))?;
        let run = async {
            let mut output = String::new();
            let started = self
                .docker
                .start_exec(&exec.id, None)
                .await
                .map_err(|err| call("start exec in").error(err))?;
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = started
            {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|err| call("read exec output of").error(err))?;
                    if output.len() < MAX_OUTPUT {
                        output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                    }
                }
            }
            output.truncate(MAX_OUTPUT);
            Ok::<_, RuntimeError>(output)
        };
        let output =
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| RuntimeError::Failed {
                    operation: format!("exec {command:?} in container {container_id}"),
                    source: format!("command timed out after {}s", timeout.as_secs_f32()).into(),
                })??;
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|err| call("inspect exec in").error(err))?;
        let exit_code = inspect
            .exit_code
            .map_or(-1, |code| i32::try_from(code).unwrap_or(-1));
        Ok(ExecResult { exit_code, output })
    }
}
