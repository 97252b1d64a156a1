//go:build tools

// Package tools pins the Kubernetes control-plane binaries the local platform
// builds from source: kube-apiserver, kube-controller-manager and kubectl.
package tools
