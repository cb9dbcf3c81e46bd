-- Who may use a project's container registry (GitLab's container_registry_access_level):
-- enabled (everyone who can see the project), private (members, Reporter and above) or
-- disabled. Existing projects keep GitLab's default, enabled.
ALTER TABLE projects ADD COLUMN container_registry_access_level TEXT NOT NULL DEFAULT 'enabled'
	CHECK (container_registry_access_level IN ('enabled', 'private', 'disabled'));
