# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_staticpod_global_optspecs
    string join \n h/help V/version
end

function __fish_staticpod_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_staticpod_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_staticpod_using_subcommand
    set -l cmd (__fish_staticpod_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c staticpod -n "__fish_staticpod_needs_command" -s h -l help -d 'Print help'
complete -c staticpod -n "__fish_staticpod_needs_command" -s V -l version -d 'Print version'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "run" -d 'Run the pods of a manifest directory and keep them as the manifests say'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "get" -d 'Show pods, as `kubectl get pods` does, from a running agent\'s read-only port'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "logs" -d 'Print a container\'s log, as `kubectl logs` does, from a running agent\'s read-only port'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "validate" -d 'Check manifests (files, directories or a URL) and a kubelet configuration as `run` would read them; exit 1 on any error'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "completion" -d 'Print the shell completion script for bash, zsh, fish (or elvish, powershell), as `kubectl completion` does: `source <(staticpod completion bash)`. The Debian package installs the bash, zsh and fish ones'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "man" -d 'Write the man pages (`staticpod.1`, `staticpod-run.1`, ...) into a directory: how `cargo xtask codegen` makes the package\'s'
complete -c staticpod -n "__fish_staticpod_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l logging-format -d '`text` or `json`, the kubelet\'s log formats' -r -f -a "text\t''
json\t''"
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l config -d 'A kubelet configuration file (`kind: KubeletConfiguration`); its fields staticpod acts on are used where no flag is given' -r -F
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l pod-manifest-path -d 'Directory of static pod manifests, or a single manifest file [default: /etc/kubernetes/manifests, unless a manifest URL is given]' -r -F
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l manifest-url -d 'URL to download static pod manifests from, as often as `--http-check-frequency`' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l manifest-url-header -d 'Headers for `--manifest-url`: `name:value` pairs separated by commas; may be given several times, and a name several times' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l runtime -d 'Which runtime to drive' -r -f -a "docker\t'Docker Engine through its API (bollard)'
cri\t'containerd (or CRI-O) through the Container Runtime Interface'
podman\t'Podman through its libpod REST API'"
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l container-runtime-endpoint -d 'The runtime\'s socket, `unix:///path`; defaults to the runtime\'s usual socket' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l hostname-override -d 'Node name used in pod names; defaults to the host name' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l root-dir -d 'Where pod volumes (emptyDir) live' -r -F
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l pod-logs-dir -d 'Where CRI runtimes and Podman write the pods\' container logs, as the kubelet lays them out (`<namespace>_<pod>_<uid>/<container>/<n>.log`) [default: /var/log/pods]' -r -F
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l container-log-max-size -d 'The size a container\'s log file may reach before it is rotated, a quantity [default: 10Mi]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l container-log-max-files -d 'How many log files a container keeps, the current one included [default: 5]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l file-check-frequency -d 'How often the manifest path is re-read besides inotify events [default: 20s]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l http-check-frequency -d 'How often the manifest URL is polled [default: 20s]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l sync-frequency -d 'How often the runtime is re-read besides its events [default: 10s]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l runtime-request-timeout -d 'How long a call of the container runtime may go unanswered before it fails (a stop is also given its grace period, an exec its timeout; a pull has no bound) [default: 2m]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l pod-infra-container-image -d 'Image of the sandbox (pause) container on Docker and Podman' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l address -d 'Address of the read-only port [default: 127.0.0.1]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l read-only-port -d 'The read-only port (`GET /pods`, `/manifests`, `/healthz`); 0 turns it off [default: 10255]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l healthz-port -d 'Port of the health endpoint (`GET /healthz`); 0 turns it off [default: 10248]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l healthz-bind-address -d 'Address of the health endpoint [default: 127.0.0.1]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l seccomp-default -d 'Run containers whose pod names no seccomp profile under the runtime\'s default (`RuntimeDefault`) instead of `Unconfined`, as the kubelet\'s flag [default: false]' -r -f -a "true\t''
false\t''"
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l allowed-unsafe-sysctls -d 'Sysctls pods may set beyond the kubelet\'s safe ones, comma-separated names or prefixes ending in `*` (`kernel.msg*,net.ipv4.ip_forward`), each of the pod\'s IPC or network namespace [default: none]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l resolv-conf -d 'The node\'s resolver file, the base of the pods\' `/etc/resolv.conf` (`Default` DNS policy, and `ClusterFirst` without `--cluster-dns`); "" for none: the node\'s loopback is the pods\' nameserver [default: /etc/resolv.conf]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l cluster-dns -d 'The cluster\'s DNS servers for `ClusterFirst` pods, comma-separated IPs [default: none: such pods fall back to the node\'s resolver, with a `MissingClusterDNS` event]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -l cluster-domain -d 'The cluster\'s domain (`cluster.local`): searched by `ClusterFirst` pods, and a pod with a `subdomain` is named `<hostname>.<subdomain>.<namespace>.svc.<domain>` [default: none]' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c staticpod -n "__fish_staticpod_using_subcommand get" -l server -d 'The agent\'s status endpoint' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand get" -s h -l help -d 'Print help'
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -s n -l namespace -d 'Its namespace' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -s c -l container -d 'The container; the pod\'s only one when it has one' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -l tail -d 'Only the last N lines' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -l since -d 'Only what was written within this long (`5s`, `2m`, `3h`)' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -l limit-bytes -d 'Stop after this many bytes' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -l server -d 'The agent\'s read-only port' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -s f -l follow -d 'Go on printing what the container writes until it exits'
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -s p -l previous -d 'The previous instance\'s log (the one before the last restart)'
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -l timestamps -d 'Prefix each line with its time (RFC 3339, UTC)'
complete -c staticpod -n "__fish_staticpod_using_subcommand logs" -s h -l help -d 'Print help'
complete -c staticpod -n "__fish_staticpod_using_subcommand validate" -l config -d 'A kubelet configuration file (`kind: KubeletConfiguration`) to check' -r -F
complete -c staticpod -n "__fish_staticpod_using_subcommand validate" -l manifest-url-header -d 'Headers for a manifest URL, as `run --manifest-url-header`' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand validate" -l hostname-override -d 'Node name appended to pod names (`--hostname-override` of `run`)' -r
complete -c staticpod -n "__fish_staticpod_using_subcommand validate" -s h -l help -d 'Print help'
complete -c staticpod -n "__fish_staticpod_using_subcommand completion" -s h -l help -d 'Print help'
complete -c staticpod -n "__fish_staticpod_using_subcommand man" -s h -l help -d 'Print help'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "run" -d 'Run the pods of a manifest directory and keep them as the manifests say'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "get" -d 'Show pods, as `kubectl get pods` does, from a running agent\'s read-only port'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "logs" -d 'Print a container\'s log, as `kubectl logs` does, from a running agent\'s read-only port'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "validate" -d 'Check manifests (files, directories or a URL) and a kubelet configuration as `run` would read them; exit 1 on any error'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "completion" -d 'Print the shell completion script for bash, zsh, fish (or elvish, powershell), as `kubectl completion` does: `source <(staticpod completion bash)`. The Debian package installs the bash, zsh and fish ones'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "man" -d 'Write the man pages (`staticpod.1`, `staticpod-run.1`, ...) into a directory: how `cargo xtask codegen` makes the package\'s'
complete -c staticpod -n "__fish_staticpod_using_subcommand help; and not __fish_seen_subcommand_from run get logs validate completion man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
