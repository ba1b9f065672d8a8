package k8s

import "strings"

// Paths inside the pods.
const (
	// ScenarioDir is where the ConfigMap is mounted: the scenario and the result scripts.
	ScenarioDir = "/scenario"
	// ResultsDir holds shard-<i>/ and merged/ (the claim, or an emptyDir).
	ResultsDir = "/results"
	// UploadKey and DownloadKey are the result scripts' names in the ConfigMap. The
	// commands are stored as files, not in env or args, because kubelet rewrites
	// $(NAME) and $$ in those, and a shell command is full of both.
	UploadKey   = "results-upload.sh"
	DownloadKey = "results-download.sh"
)

// wrapper is the shell a container runs around portlab when portlab alone will not do.
// It is kept free of "$(" and "$$" so kubelet's expansion of command and args leaves it
// as written (the args after it do use $(JOB_COMPLETION_INDEX), which kubelet expands).
type wrapper struct {
	// remountProcSys: the container runtime mounts /proc/sys read-only in an
	// unprivileged container, and portlab writes sysctls (ip_forward, rp_filter, ...) in
	// the namespaces it creates through it; with CAP_SYS_ADMIN the mount can be made
	// writable again for this container's mount namespace.
	remountProcSys bool
	// download and upload are script paths run before and after portlab.
	download, upload string
}

func (w wrapper) needed() bool { return w.remountProcSys || w.download != "" || w.upload != "" }

// script is the `sh -c` text; portlab's arguments follow it as "$@".
func (w wrapper) script() string {
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line("set -u")
	if w.remountProcSys {
		line(`if ! [ -w /proc/sys/net/ipv4/ip_forward ]; then`)
		line(`  mount -o remount,rw,bind /proc/sys || { echo 'portlab-k8s: /proc/sys is read-only and cannot be made writable (that needs CAP_SYS_ADMIN and an unconfined AppArmor profile); generate the manifest with --privileged' >&2; exit 3; }`)
		line(`fi`)
	}
	if w.download != "" {
		line(`sh ` + w.download + ` || { echo 'portlab-k8s: results download failed' >&2; exit 5; }`)
	}
	if w.upload == "" {
		// portlab becomes PID 1 and gets the SIGTERM of a deadline or a deletion itself.
		line(`exec portlab "$@"`)
		return b.String()
	}
	// The shell stays PID 1 to upload afterwards, so it passes SIGTERM on: portlab then
	// stops the load and writes its results marked interrupted, which get uploaded too.
	// The trap is set before portlab starts, so a signal in between is not lost.
	line(`pid= term=`)
	line(`trap 'term=1; [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null' TERM INT`)
	line(`portlab "$@" &`)
	line(`pid=$!`)
	line(`[ -z "$term" ] || kill -TERM "$pid" 2>/dev/null`)
	line(`wait "$pid"; rc=$?`)
	line(`while kill -0 "$pid" 2>/dev/null; do wait "$pid"; rc=$?; done`)
	line(`export PORTLAB_EXIT="$rc"`)
	line(`if ! sh ` + w.upload + `; then`)
	// portlab's own failure code is kept; a run that passed but whose results never left
	// the pod failed all the same (exit 5), or the merge would find a shard missing.
	line(`  echo "portlab-k8s: results upload failed (portlab exited $rc)" >&2`)
	line(`  [ "$rc" -ne 0 ] || rc=5`)
	line(`fi`)
	line(`exit "$rc"`)
	return b.String()
}
