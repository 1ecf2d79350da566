//! Commands run in a running container (exec probes): create an exec session, attach to its
//! output until it ends or the timeout passes, then read its exit code.

use std::time::Duration;

use futures_util::StreamExt;
use podman_api::opts::{ExecCreateOpts, ExecStartOpts};
use staticpod_runtime::exec_output;
use staticpod_runtime::{ExecResult, RuntimeError, RuntimeResult};

use crate::PodmanRuntime;
use crate::error::ApiError;

impl PodmanRuntime {
    /// Runs `command` in `container_id` and waits at most `timeout` for it.
    pub(crate) async fn exec(
        &self,
        container_id: &str,
        command: &[String],
        timeout: Duration,
    ) -> RuntimeResult<ExecResult> {
        let call = |verb| self.call(verb, "container", container_id);
        let options = ExecCreateOpts::builder()
            .command(command)
            .attach_stdout(true)
            .attach_stderr(true)
            .build();
        let container = self.podman.containers().get(container_id);
        let exec = container
            .create_exec(&options)
            .await
            .map_err(|err| call("exec in").error(ApiError::from(err)))?;
        let run = async {
            let mut output = String::new();
            let stream = exec.start(&ExecStartOpts::builder().build()).await;
            if let Some(mut stream) =
                stream.map_err(|err| call("start exec in").error(ApiError::from(err)))?
            {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|err| {
                        call("read exec output of")
                            .error(ApiError::from(podman_api::Error::Error(err)))
                    })?;
                    exec_output::append(&mut output, &Vec::<u8>::from(chunk));
                }
            }
            Ok::<_, RuntimeError>(output)
        };
        let output = exec_output::within(timeout, command, container_id, run).await?;
        let inspect = exec
            .inspect()
            .await
            .map_err(|err| call("inspect exec in").error(ApiError::from(err)))?;
        let exit_code = inspect
            .get("ExitCode")
            .and_then(serde_json::Value::as_i64)
            .map_or(-1, |code| i32::try_from(code).unwrap_or(-1));
        Ok(ExecResult { exit_code, output })
    }
}
