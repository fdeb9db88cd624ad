package main

// isLinux says that syscall.Errno values are Linux errno numbers and can be
// used as exit statuses as they are.
const isLinux = true
