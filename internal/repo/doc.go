// Package repo keeps the projects' bare Git repositories on disk, one per project at
// <root>/<namespace full path>/<project path>.git, and reads them with the real git
// binary. The service creates, moves and removes repositories with their projects through
// the Store interface; the Git smart-HTTP bridge runs git http-backend inside them.
//
// Besides the repositories the root holds ".tmp", where repositories are built before
// being renamed into place and renamed to before being deleted (so a live path never
// holds half a repository), and ".keygate/hooks". Namespace and project paths never start
// with '.', so neither can collide with a repository.
//
// Git runs with its system and global configuration switched off (as Gitaly does), so a
// server's ~/.gitconfig never changes what clients get; Keygate passes the settings it
// wants on the command line or in the environment.
package repo
