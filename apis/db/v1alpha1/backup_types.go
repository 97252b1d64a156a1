package v1alpha1

import (
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupParameters are the desired state of a backup: one on-demand backup,
// or a schedule of them when Schedule is set.
type BackupParameters struct {
	// Engine of the cluster.
	Engine Engine `json:"engine"`

	// Cluster is the cluster's name (the pgBackRest stanza).
	Cluster string `json:"cluster"`

	// NodeRefs name the cluster's DatabaseNodes in this namespace; the
	// backup runs on a healthy one.
	// +kubebuilder:validation:MinItems=1
	NodeRefs []LocalReference `json:"nodeRefs"`

	// Type of backup.
	// +optional
	// +kubebuilder:validation:Enum=full;diff;incr
	// +kubebuilder:default=full
	Type string `json:"type,omitempty"`

	// Schedule in cron format ("0 2 * * *"). Empty means one backup now.
	// +optional
	Schedule string `json:"schedule,omitempty"`

	// RetentionDays of scheduled backups.
	// +optional
	RetentionDays int32 `json:"retentionDays,omitempty"`
}

// BackupObservation is what the backup tool reported.
type BackupObservation struct {
	Label     string       `json:"label,omitempty"`
	Type      string       `json:"type,omitempty"`
	Started   *metav1.Time `json:"started,omitempty"`
	Finished  *metav1.Time `json:"finished,omitempty"`
	SizeBytes int64        `json:"sizeBytes,omitempty"`
	// WALStart and WALStop bound the WAL needed to restore it (PostgreSQL).
	WALStart string `json:"walStart,omitempty"`
	WALStop  string `json:"walStop,omitempty"`
	// LSNStart and LSNStop are the backup's log sequence number range.
	LSNStart string `json:"lsnStart,omitempty"`
	LSNStop  string `json:"lsnStop,omitempty"`
	// LastScheduled is when the schedule last started a backup.
	LastScheduled *metav1.Time `json:"lastScheduled,omitempty"`
}

// A BackupSpec defines the desired state of a Backup.
type BackupSpec struct {
	xpv2.ManagedResourceSpec `json:",inline"`
	ForProvider              BackupParameters `json:"forProvider"`
}

// A BackupStatus represents the observed state of a Backup.
type BackupStatus struct {
	xpv2.ManagedResourceStatus `json:",inline"`
	AtProvider                 BackupObservation `json:"atProvider,omitempty"`
}

// +kubebuilder:object:root=true

// A Backup is an on-demand backup of a cluster, or a schedule of backups.
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="SYNCED",type="string",JSONPath=".status.conditions[?(@.type=='Synced')].status"
// +kubebuilder:printcolumn:name="TYPE",type="string",JSONPath=".spec.forProvider.type"
// +kubebuilder:printcolumn:name="SCHEDULE",type="string",JSONPath=".spec.forProvider.schedule"
// +kubebuilder:printcolumn:name="LABEL",type="string",JSONPath=".status.atProvider.label"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,managed,quorum}
type Backup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupSpec   `json:"spec"`
	Status BackupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BackupList contains a list of Backup.
type BackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Backup `json:"items"`
}
