//go:build !linux

package main

// isLinux is false: syscall.Errno values of this platform are not Linux's,
// so only the ones errno knows by name are translated.
const isLinux = false
