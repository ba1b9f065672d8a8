package k8s

// The Kubernetes objects portlab writes, as the few fields it sets. Field names and JSON
// tags follow k8s.io/api exactly (the tests decode the output strictly into those types),
// but only what portlab uses is here: the binary need not carry the whole API.

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type objectMeta struct {
	Name        string            `json:"name,omitempty"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type configMap struct {
	typeMeta
	Metadata objectMeta        `json:"metadata"`
	Data     map[string]string `json:"data"`
}

type job struct {
	typeMeta
	Metadata objectMeta `json:"metadata"`
	Spec     jobSpec    `json:"spec"`
}

type jobSpec struct {
	CompletionMode        string            `json:"completionMode,omitempty"`
	Completions           int               `json:"completions"`
	Parallelism           int               `json:"parallelism"`
	BackoffLimit          int               `json:"backoffLimit"` // no omitempty: 0 is the point
	ActiveDeadlineSeconds int64             `json:"activeDeadlineSeconds"`
	PodFailurePolicy      *podFailurePolicy `json:"podFailurePolicy,omitempty"`
	Template              podTemplate       `json:"template"`
}

type podFailurePolicy struct {
	Rules []podFailurePolicyRule `json:"rules"`
}

type podFailurePolicyRule struct {
	Action          string                   `json:"action"`
	OnExitCodes     *onExitCodes             `json:"onExitCodes,omitempty"`
	OnPodConditions []onPodConditionsPattern `json:"onPodConditions,omitempty"`
}

type onExitCodes struct {
	ContainerName string  `json:"containerName,omitempty"`
	Operator      string  `json:"operator"`
	Values        []int32 `json:"values"`
}

type onPodConditionsPattern struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

type podTemplate struct {
	Metadata objectMeta `json:"metadata"`
	Spec     podSpec    `json:"spec"`
}

type pod struct {
	typeMeta
	Metadata objectMeta `json:"metadata"`
	Spec     podSpec    `json:"spec"`
}

type podSpec struct {
	RestartPolicy                 string            `json:"restartPolicy"`
	ActiveDeadlineSeconds         int64             `json:"activeDeadlineSeconds,omitempty"`
	TerminationGracePeriodSeconds int64             `json:"terminationGracePeriodSeconds,omitempty"`
	AutomountServiceAccountToken  *bool             `json:"automountServiceAccountToken,omitempty"`
	EnableServiceLinks            *bool             `json:"enableServiceLinks,omitempty"`
	NodeSelector                  map[string]string `json:"nodeSelector,omitempty"`
	Affinity                      *affinity         `json:"affinity,omitempty"`
	Containers                    []container       `json:"containers"`
	Volumes                       []volume          `json:"volumes,omitempty"`
}

type affinity struct {
	PodAntiAffinity *podAntiAffinity `json:"podAntiAffinity,omitempty"`
}

type podAntiAffinity struct {
	Required []podAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

type podAffinityTerm struct {
	LabelSelector labelSelector `json:"labelSelector"`
	TopologyKey   string        `json:"topologyKey"`
}

type labelSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type container struct {
	Name            string           `json:"name"`
	Image           string           `json:"image"`
	Command         []string         `json:"command,omitempty"`
	Args            []string         `json:"args,omitempty"`
	Env             []envVar         `json:"env,omitempty"`
	Resources       *resources       `json:"resources,omitempty"`
	VolumeMounts    []volumeMount    `json:"volumeMounts,omitempty"`
	SecurityContext *securityContext `json:"securityContext,omitempty"`
}

type envVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *envVarSource `json:"valueFrom,omitempty"`
}

type envVarSource struct {
	FieldRef *fieldRef `json:"fieldRef,omitempty"`
}

type fieldRef struct {
	FieldPath string `json:"fieldPath"`
}

type resources struct {
	Requests map[string]string `json:"requests,omitempty"`
	Limits   map[string]string `json:"limits,omitempty"`
}

type volumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	SubPath   string `json:"subPath,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

type volume struct {
	Name                  string           `json:"name"`
	ConfigMap             *configMapVolume `json:"configMap,omitempty"`
	PersistentVolumeClaim *claimVolume     `json:"persistentVolumeClaim,omitempty"`
	EmptyDir              *emptyDirVolume  `json:"emptyDir,omitempty"`
}

type configMapVolume struct {
	Name string `json:"name"`
}

type claimVolume struct {
	ClaimName string `json:"claimName"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
}

type emptyDirVolume struct{}

type securityContext struct {
	Privileged               *bool         `json:"privileged,omitempty"`
	RunAsUser                *int64        `json:"runAsUser,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *capabilities `json:"capabilities,omitempty"`
	SeccompProfile           *profile      `json:"seccompProfile,omitempty"`
	AppArmorProfile          *profile      `json:"appArmorProfile,omitempty"`
}

type capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// profile is a seccomp or AppArmor profile reference (only the type: RuntimeDefault, Unconfined).
type profile struct {
	Type string `json:"type"`
}

func ptr[T any](v T) *T { return &v }
