// Package k8s writes the Kubernetes manifests that run one portlab scenario as N shards
// on N machines, the way load-test operators run distributed tests, without a scheduler
// or an operator of its own: the Job controller starts the shards and Kubernetes'
// ordinary objects carry everything else.
//
//	portlab k8s job SCENARIO --shards 3 ...          one multi-document YAML file
//	 │
//	 ├─ ConfigMap <name>-scenario        step=shards   the scenario's bytes (+ upload/download scripts)
//	 ├─ Job <name>  (Indexed, 3 pods)    step=shards   portlab run /scenario/<s>.yaml --shard $(JOB_COMPLETION_INDEX)/3
//	 │     pod 0 ─┐                                    --start-at T --out /results/shard-$(JOB_COMPLETION_INDEX)
//	 │     pod 1 ─┼─► /results (ReadWriteMany claim, or emptyDir + an upload command)
//	 │     pod 2 ─┘
//	 ├─ Job <name>-merge (1 pod)         step=merge    portlab merge /results/shard-0 ... --out /results/merged
//	 └─ Pod <name>-fetch                 step=fetch    sleeps with the claim mounted, for kubectl cp
//
// A Job cannot wait for another Job, so the steps are applied one after the other with
// a label selector (kubectl apply -f job.yaml -l portlab.io/step=shards, kubectl wait,
// then step=merge); the manifest's header comment lists the exact commands.
//
// The objects are this package's own small structs marshalled with sigs.k8s.io/yaml
// (sorted keys, so output is deterministic). k8s.io/api is used only by the tests,
// which decode every document strictly into the real API types: the portlab binary does
// not carry the Kubernetes API.
//
// It is not a client: it never talks to a cluster, and nothing here was run on one.
package k8s
