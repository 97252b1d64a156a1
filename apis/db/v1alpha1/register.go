package v1alpha1

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// Package type metadata.
const (
	Group   = "db.m.quorum.dev"
	Version = "v1alpha1"
)

var (
	// SchemeGroupVersion is the group version used to register these objects.
	SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder registers the types of this group with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: SchemeGroupVersion}
)

// Kind metadata.
var (
	DatabaseNodeKind             = reflect.TypeOf(DatabaseNode{}).Name()
	DatabaseNodeGroupKind        = schema.GroupKind{Group: Group, Kind: DatabaseNodeKind}.String()
	DatabaseNodeGroupVersionKind = SchemeGroupVersion.WithKind(DatabaseNodeKind)

	UserKind             = reflect.TypeOf(User{}).Name()
	UserGroupKind        = schema.GroupKind{Group: Group, Kind: UserKind}.String()
	UserGroupVersionKind = SchemeGroupVersion.WithKind(UserKind)

	DatabaseKind             = reflect.TypeOf(Database{}).Name()
	DatabaseGroupKind        = schema.GroupKind{Group: Group, Kind: DatabaseKind}.String()
	DatabaseGroupVersionKind = SchemeGroupVersion.WithKind(DatabaseKind)

	BackupKind             = reflect.TypeOf(Backup{}).Name()
	BackupGroupKind        = schema.GroupKind{Group: Group, Kind: BackupKind}.String()
	BackupGroupVersionKind = SchemeGroupVersion.WithKind(BackupKind)
)

func init() {
	SchemeBuilder.Register(&DatabaseNode{}, &DatabaseNodeList{})
	SchemeBuilder.Register(&User{}, &UserList{})
	SchemeBuilder.Register(&Database{}, &DatabaseList{})
	SchemeBuilder.Register(&Backup{}, &BackupList{})
}
