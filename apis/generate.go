// Package apis holds the provider's API types and registers them with a scheme.
//
// Generated code (deepcopy, managed-resource method sets, CRDs) is produced by
// `make generate`, which runs controller-gen and angryjet built from the pinned
// tools module in tools/codegen.
package apis

import (
	"k8s.io/apimachinery/pkg/runtime"

	computev1alpha1 "github.com/quorumdb/quorum/apis/compute/v1alpha1"
	dbv1alpha1 "github.com/quorumdb/quorum/apis/db/v1alpha1"
	v1alpha1 "github.com/quorumdb/quorum/apis/v1alpha1"
)

// AddToSchemes lists every API group the provider serves.
var AddToSchemes = runtime.SchemeBuilder{
	v1alpha1.SchemeBuilder.AddToScheme,
	computev1alpha1.SchemeBuilder.AddToScheme,
	dbv1alpha1.SchemeBuilder.AddToScheme,
}

// AddToScheme adds all provider types to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	return AddToSchemes.AddToScheme(s)
}
