package main

import "strconv"

// exitStatus ends the process with a status other than 1 and no error line: the command
// already said what it found (doctor's 1 and 2, a check that found problems).
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// ExitCode is the process status.
func (e exitStatus) ExitCode() int { return int(e) }
