//! Commands run in a running container (exec probes): create an exec, attach to its output
//! until it ends or the timeout passes, then read its exit code.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use staticpod_runtime::exec_output;
use staticpod_runtime::{ExecResult, RuntimeError, RuntimeResult};

use crate::DockerRuntime;

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
                    exec_output::append(&mut output, &chunk.into_bytes());
                }
            }
            Ok::<_, RuntimeError>(output)
        };
        let output = exec_output::within(timeout, command, container_id, run).await?;
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
