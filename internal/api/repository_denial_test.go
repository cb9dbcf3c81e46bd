package api_test

// The repository routes' denial-matrix probes. The files routes carry ?ref= so that a
// refusal comes from authorization, not from Grape's "ref is missing" (which GitLab
// checks first); the fixture projects' repositories are empty, which no refusal reaches.
func init() {
	denialPaths["GET /projects/{id}/repository/branches"] = "/projects/{project}/repository/branches"
	denialPaths["GET /projects/{id}/repository/tree"] = "/projects/{project}/repository/tree"
	denialPaths["GET /projects/{id}/repository/files/{file_path}"] = "/projects/{project}/repository/files/README.md?ref=main"
	denialPaths["GET /projects/{id}/repository/files/{file_path}/raw"] = "/projects/{project}/repository/files/README.md/raw?ref=main"
}
