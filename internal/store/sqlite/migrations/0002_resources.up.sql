-- Groups and personal namespaces, projects, and direct memberships; the bot columns of
-- users. Same conventions as 0001: STRICT tables, timestamps as fixed-width UTC TEXT,
-- dates as TEXT YYYY-MM-DD, booleans INTEGER 0/1.

-- A project bot names its project or group; a service account its group (0: none).
ALTER TABLE users ADD COLUMN bot_source_type TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN bot_source_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN created_by_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_bot_source ON users (user_type, bot_source_type, bot_source_id);

-- Groups and personal namespaces share one ID space and one path space, as in GitLab.
-- traversal_ids is the path of IDs from the top, this namespace last, with a leading and
-- a trailing slash ("/1/5/9/"): the subtree of a namespace is then one index range,
-- [t, t without its last slash || '0'), since '0' is the byte after '/'.
-- visibility_level mirrors visibility (private 0, internal 10, public 20) for range
-- filters.
CREATE TABLE namespaces (
	id                             INTEGER PRIMARY KEY AUTOINCREMENT,
	kind                           TEXT    NOT NULL CHECK (kind IN ('group', 'user')),
	name                           TEXT    NOT NULL,
	path                           TEXT    NOT NULL,
	full_path                      TEXT    NOT NULL,
	full_name                      TEXT    NOT NULL,
	parent_id                      INTEGER REFERENCES namespaces (id) ON DELETE CASCADE,
	owner_id                       INTEGER REFERENCES users (id) ON DELETE CASCADE,
	visibility                     TEXT    NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
	visibility_level               INTEGER NOT NULL CHECK (visibility_level =
		CASE visibility WHEN 'public' THEN 20 WHEN 'internal' THEN 10 ELSE 0 END),
	description                    TEXT    NOT NULL DEFAULT '',
	traversal_ids                  TEXT    NOT NULL DEFAULT '',
	resource_access_tokens_allowed INTEGER NOT NULL DEFAULT 1,
	created_at                     TEXT    NOT NULL,
	-- A personal namespace has its user; a group has none.
	CHECK ((kind = 'user') = (owner_id IS NOT NULL))
) STRICT;

CREATE UNIQUE INDEX namespaces_full_path_lower ON namespaces (lower(full_path));
CREATE INDEX namespaces_parent_id ON namespaces (parent_id);
CREATE INDEX namespaces_owner_id ON namespaces (owner_id);
CREATE INDEX namespaces_traversal_ids ON namespaces (traversal_ids);

CREATE TABLE projects (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	name             TEXT    NOT NULL,
	path             TEXT    NOT NULL,
	namespace_id     INTEGER NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
	visibility       TEXT    NOT NULL CHECK (visibility IN ('private', 'internal', 'public')),
	visibility_level INTEGER NOT NULL CHECK (visibility_level =
		CASE visibility WHEN 'public' THEN 20 WHEN 'internal' THEN 10 ELSE 0 END),
	description      TEXT    NOT NULL DEFAULT '',
	default_branch   TEXT    NOT NULL DEFAULT '',
	-- No foreign key: a project outlives the user who created it.
	creator_id       INTEGER NOT NULL DEFAULT 0,
	created_at       TEXT    NOT NULL,
	updated_at       TEXT    NOT NULL,
	last_activity_at TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX projects_namespace_path_lower ON projects (namespace_id, lower(path));

-- Direct memberships of a project or a namespace. The source is polymorphic, so no
-- foreign key can remove a membership with its source: deleting a namespace or project
-- deletes them explicitly. (user_id, source_type, source_id) serves MaxAccess and every
-- "memberships of this user" filter.
CREATE TABLE members (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	source_type   TEXT    NOT NULL CHECK (source_type IN ('Project', 'Namespace')),
	source_id     INTEGER NOT NULL,
	user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	access_level  INTEGER NOT NULL,
	expires_at    TEXT,
	created_at    TEXT    NOT NULL,
	created_by_id INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE UNIQUE INDEX members_source_user ON members (source_type, source_id, user_id);
CREATE INDEX members_user_source ON members (user_id, source_type, source_id);
