package v1alpha1

import (
	xpv2 "github.com/crossplane/crossplane/apis/v2/core/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Grant gives a user a privilege on one logical database.
type Grant struct {
	// Database the privilege applies to.
	Database string `json:"database"`
	// Privilege: owner (all, including DDL), readwrite (DML) or readonly.
	// +kubebuilder:validation:Enum=owner;readwrite;readonly
	Privilege string `json:"privilege"`
}

// UserParameters are the desired state of a database user.
type UserParameters struct {
	// Admin connection to the user's cluster.
	Admin AdminConnection `json:"admin"`

	// Name of the role or login. Quoted, never interpolated: any characters
	// are safe, but a name that is not a plain identifier is awkward to use.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// PasswordSecretRef takes the password from a Secret instead of
	// generating one.
	// +optional
	PasswordSecretRef *SecretKeySelector `json:"passwordSecretRef,omitempty"`

	// Grants on logical databases.
	// +optional
	Grants []Grant `json:"grants,omitempty"`

	// RotatePasswordAfter requests a new generated password whenever it
	// changes (any string, for example a date).
	// +optional
	RotatePasswordAfter string `json:"rotatePasswordAfter,omitempty"`

	// ConnectionLimit of the user; -1 means no limit.
	// +optional
	ConnectionLimit *int32 `json:"connectionLimit,omitempty"`
}

// UserObservation is the observed state of a user.
type UserObservation struct {
	// Grants in force.
	Grants []Grant `json:"grants,omitempty"`
	// PasswordRotation is the RotatePasswordAfter value last applied.
	PasswordRotation string `json:"passwordRotation,omitempty"`
}

// A UserSpec defines the desired state of a User.
type UserSpec struct {
	xpv2.ManagedResourceSpec `json:",inline"`
	ForProvider              UserParameters `json:"forProvider"`
}

// A UserStatus represents the observed state of a User.
type UserStatus struct {
	xpv2.ManagedResourceStatus `json:",inline"`
	AtProvider                 UserObservation `json:"atProvider,omitempty"`
}

// +kubebuilder:object:root=true

// A User is a role or login in a PostgreSQL, MongoDB or SQL Server cluster,
// with its grants and a connection Secret.
// +kubebuilder:printcolumn:name="READY",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="SYNCED",type="string",JSONPath=".status.conditions[?(@.type=='Synced')].status"
// +kubebuilder:printcolumn:name="USER",type="string",JSONPath=".spec.forProvider.name"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,managed,quorum}
type User struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   UserSpec   `json:"spec"`
	Status UserStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// UserList contains a list of User.
type UserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []User `json:"items"`
}
