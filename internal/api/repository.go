package api

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/authz"
	"github.com/keygate/keygate/internal/repo"
	"github.com/keygate/keygate/internal/service"
)

// repositoryRoutes are the minimal repository API (spec §4.7a): branches, tree and files,
// read with the real git. The files API also opens for read_repository tokens (GitLab's
// Files class registers it for GET and HEAD); branches and tree take api or read_api.
//
// The routes resolve their project with ActRead (hidden → 404) and the service then
// demands ActReadCode (a private project's Guest → 403), the way deferred routes work,
// so the denial matrix, whose role model knows only management actions, keeps its
// expectations; the summaries state the role.
func (a *API) repositoryRoutes() []Route {
	public := authz.Rule{Anonymous: true}
	files := authz.Rule{Anonymous: true, Grants: []authz.Grant{{Scope: keygate.ScopeReadRepository, ReadOnly: true}}}
	// Job tokens reach the branch list and raw files (spec §7.2).
	jobPublic := public
	jobPublic.JobToken = true
	jobFiles := files
	jobFiles.JobToken = true
	proj := authz.KindProject
	return []Route{
		Route{Method: "GET", Pattern: "/projects/{id}/repository/branches", Rule: jobPublic,
			Summary: "List a project's branches (private projects: Reporter)", handler: a.listBranches}.on(proj, authz.ActRead),
		Route{Method: "GET", Pattern: "/projects/{id}/repository/tree", Rule: public,
			Summary: "List a repository tree (private projects: Reporter)", handler: a.listTree}.on(proj, authz.ActRead),
		Route{Method: "GET", Pattern: "/projects/{id}/repository/files/{file_path}", Rule: files,
			Summary: "Get a file's metadata and content (private projects: Reporter)", handler: a.getFile}.on(proj, authz.ActRead),
		Route{Method: "GET", Pattern: "/projects/{id}/repository/files/{file_path}/raw", Rule: jobFiles,
			Summary: "Get a file's raw content (private projects: Reporter)", handler: a.getRawFile}.on(proj, authz.ActRead),
	}
}

// gitTime is GitLab's timestamp for commit dates: milliseconds and the commit's own
// UTC offset ("2012-05-28T04:42:42.000-07:00").
const gitTime = "2006-01-02T15:04:05.000-07:00"

// commitJSON is API::Entities::Commit.
type commitJSON struct {
	ID               string              `json:"id"`
	ShortID          string              `json:"short_id"`
	CreatedAt        string              `json:"created_at"`
	ParentIDs        []string            `json:"parent_ids"`
	Title            string              `json:"title"`
	Message          string              `json:"message"`
	AuthorName       string              `json:"author_name"`
	AuthorEmail      string              `json:"author_email"`
	AuthoredDate     string              `json:"authored_date"`
	CommitterName    string              `json:"committer_name"`
	CommitterEmail   string              `json:"committer_email"`
	CommittedDate    string              `json:"committed_date"`
	Trailers         map[string]string   `json:"trailers"`
	ExtendedTrailers map[string][]string `json:"extended_trailers"`
	WebURL           string              `json:"web_url"`
}

func (a *API) commit(p keygate.Project, c repo.Commit) commitJSON {
	out := commitJSON{
		ID: c.ID, ShortID: c.ID[:min(8, len(c.ID))], CreatedAt: c.CommittedAt.Format(gitTime),
		ParentIDs: c.ParentIDs, Title: c.Title(), Message: c.Message,
		AuthorName: c.AuthorName, AuthorEmail: c.AuthorEmail, AuthoredDate: c.AuthoredAt.Format(gitTime),
		CommitterName: c.CommitterName, CommitterEmail: c.CommitterEmail, CommittedDate: c.CommittedAt.Format(gitTime),
		Trailers: map[string]string{}, ExtendedTrailers: map[string][]string{},
		WebURL: a.externalURL + "/" + p.FullPath() + "/-/commit/" + c.ID,
	}
	if out.ParentIDs == nil {
		out.ParentIDs = []string{}
	}
	for _, t := range c.Trailers {
		out.Trailers[t[0]] = t[1]
		out.ExtendedTrailers[t[0]] = append(out.ExtendedTrailers[t[0]], t[1])
	}
	return out
}

// branchJSON is API::Entities::Branch. Keygate protects only the default branch, with
// GitLab's default protection (Maintainers push and merge), so developers_can_push and
// developers_can_merge are always false.
type branchJSON struct {
	Name               string     `json:"name"`
	Commit             commitJSON `json:"commit"`
	Merged             bool       `json:"merged"`
	Protected          bool       `json:"protected"`
	DevelopersCanPush  bool       `json:"developers_can_push"`
	DevelopersCanMerge bool       `json:"developers_can_merge"`
	CanPush            bool       `json:"can_push"`
	Default            bool       `json:"default"`
	WebURL             string     `json:"web_url"`
}

func (a *API) listBranches(w http.ResponseWriter, r *http.Request, c *call) error {
	var in service.BranchListInput
	var err error
	if in.Page, err = c.p.page(); err != nil {
		return err
	}
	if in.Search, _, err = c.p.str("search"); err != nil {
		return err
	}
	bs, total, err := a.svc.Branches(r.Context(), c.subject, c.project, c.res, in)
	if err != nil {
		return err
	}
	paginate(w, r, in.Page, total, a.externalURL)
	out := make([]branchJSON, len(bs))
	for i, b := range bs {
		out[i] = branchJSON{
			Name: b.Name, Commit: a.commit(c.project, b.Commit), Merged: b.Merged, Protected: b.Protected,
			CanPush: b.CanPush, Default: b.Default, WebURL: a.externalURL + "/" + c.project.FullPath() + "/-/tree/" + b.Name,
		}
	}
	writeJSON(w, 200, out)
	return nil
}

// treeJSON is API::Entities::TreeObject.
type treeJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Path string `json:"path"`
	Mode string `json:"mode"`
}

func (a *API) listTree(w http.ResponseWriter, r *http.Request, c *call) error {
	var in service.TreeInput
	var err error
	if in.Page, err = c.p.page(); err != nil {
		return err
	}
	if in.Ref, _, err = c.p.str("ref"); err != nil {
		return err
	}
	if in.Path, _, err = c.p.str("path"); err != nil {
		return err
	}
	if rec, err := c.p.boolean("recursive"); err != nil {
		return err
	} else if rec != nil {
		in.Recursive = *rec
	}
	entries, total, err := a.svc.Tree(r.Context(), c.subject, c.project, c.res, in)
	if err != nil {
		return err
	}
	paginate(w, r, in.Page, total, a.externalURL)
	out := make([]treeJSON, len(entries))
	for i, e := range entries {
		out[i] = treeJSON{ID: e.ID, Name: e.Name, Type: e.Type, Path: e.Path, Mode: e.Mode}
	}
	writeJSON(w, 200, out)
	return nil
}

// fileJSON is the Files API's blob_data; the content follows it in the same object.
type fileJSON struct {
	FileName        string `json:"file_name"`
	FilePath        string `json:"file_path"`
	Size            int64  `json:"size"`
	Encoding        string `json:"encoding"`
	ContentSHA256   string `json:"content_sha256"`
	Ref             string `json:"ref"`
	BlobID          string `json:"blob_id"`
	CommitID        string `json:"commit_id"`
	LastCommitID    string `json:"last_commit_id"`
	ExecuteFilemode bool   `json:"execute_filemode"`
}

// filePath reads {file_path} (URL-encoded, so one segment), refusing traversal as
// GitLab's file_path validator does.
func filePath(r *http.Request) (string, error) {
	fp := r.PathValue("file_path")
	for seg := range strings.SplitSeq(fp, "/") {
		if seg == ".." || strings.ContainsRune(seg, 0) {
			return "", paramError("file_path should be a valid file path")
		}
	}
	if strings.Trim(fp, "/") == "" {
		return "", paramError("file_path should be a valid file path")
	}
	return fp, nil
}

// fileRef reads ref: Grape's requires (missing) and allow_blank: false (empty).
func fileRef(p *params, required bool) (string, error) {
	ref, ok, err := p.str("ref")
	switch {
	case err != nil:
		return "", err
	case !ok && required:
		return "", paramError("ref is missing")
	case ok && strings.TrimSpace(ref) == "":
		return "", paramError("ref is empty")
	}
	return ref, nil
}

// file resolves the file of a files request and the SHA-256 of its content (GitLab
// reports it in the body and the X-Gitlab-Content-Sha256 header of both routes). The
// blob is streamed twice, hashed then sent, so a large file is never held in memory.
func (a *API) file(r *http.Request, c *call, refRequired bool) (service.FileMeta, string, error) {
	fp, err := filePath(r)
	if err != nil {
		return service.FileMeta{}, "", err
	}
	ref, err := fileRef(c.p, refRequired)
	if err != nil {
		return service.FileMeta{}, "", err
	}
	f, err := a.svc.File(r.Context(), c.subject, c.project, c.res, fp, ref)
	if err != nil {
		return f, "", err
	}
	rc, err := a.svc.OpenBlob(r.Context(), c.project, f)
	if err != nil {
		return f, "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return f, "", err
	}
	return f, hex.EncodeToString(h.Sum(nil)), nil
}

func fileHeaders(hd http.Header, f service.FileMeta, sum string) {
	for k, v := range map[string]string{
		"File-Name": f.Name, "File-Path": f.Path, "Size": strconv.FormatInt(f.Size, 10), "Encoding": "base64",
		"Content-Sha256": sum, "Ref": f.Ref, "Blob-Id": f.BlobID, "Commit-Id": f.CommitID,
		"Last-Commit-Id": f.LastCommitID, "Execute-Filemode": strconv.FormatBool(f.Executable),
	} {
		hd.Set("X-Gitlab-"+k, v)
	}
}

func (a *API) getFile(w http.ResponseWriter, r *http.Request, c *call) error {
	f, sum, err := a.file(r, c, true)
	if err != nil {
		return err
	}
	fileHeaders(w.Header(), f, sum)
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		return nil
	}
	var head bytes.Buffer
	enc := json.NewEncoder(&head)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fileJSON{
		FileName: f.Name, FilePath: f.Path, Size: f.Size, Encoding: "base64", ContentSHA256: sum, Ref: f.Ref,
		BlobID: f.BlobID, CommitID: f.CommitID, LastCommitID: f.LastCommitID, ExecuteFilemode: f.Executable,
	}); err != nil {
		return err
	}
	rc, err := a.svc.OpenBlob(r.Context(), c.project, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	// The object's closing brace gives way to the content, streamed as base64.
	_, _ = w.Write(bytes.TrimSuffix(bytes.TrimSpace(head.Bytes()), []byte("}")))
	_, _ = io.WriteString(w, `,"content":"`)
	b64 := base64.NewEncoder(base64.StdEncoding, w)
	_, _ = io.Copy(b64, rc) // a failure midway can only cut the body short
	_ = b64.Close()
	_, _ = io.WriteString(w, "\"}\n")
	return nil
}

func (a *API) getRawFile(w http.ResponseWriter, r *http.Request, c *call) error {
	f, sum, err := a.file(r, c, false)
	if err != nil {
		return err
	}
	rc, err := a.svc.OpenBlob(r.Context(), c.project, f)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 4096)
	sniff, _ := br.Peek(512)
	hd := w.Header()
	fileHeaders(hd, f, sum)
	// GitLab's no_cache_headers, and Workhorse's content detection: text is served as
	// text/plain (never as HTML), images inline, anything else as an attachment.
	hd.Set("Cache-Control", "no-cache, no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Expires", "Fri, 01 Jan 1990 00:00:00 GMT")
	hd.Set("X-Content-Type-Options", "nosniff")
	disposition := "inline"
	switch ct := http.DetectContentType(sniff); {
	case strings.HasPrefix(ct, "text/"):
		hd.Set("Content-Type", "text/plain; charset=utf-8")
	case strings.HasPrefix(ct, "image/"):
		hd.Set("Content-Type", ct)
	default:
		hd.Set("Content-Type", "application/octet-stream")
		disposition = "attachment"
	}
	hd.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	hd.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.WriteHeader(200)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, br)
	}
	return nil
}
