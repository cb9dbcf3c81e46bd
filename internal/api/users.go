package api

import (
	"net/http"
	"strconv"

	"github.com/keygate/keygate"
	"github.com/keygate/keygate/internal/service"
	"github.com/keygate/keygate/internal/store"
)

func pathID(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, paramError(name + " is invalid")
	}
	return n, nil
}

func (a *API) currentUser(w http.ResponseWriter, r *http.Request, c *call) error {
	u := c.principal.User
	admin := c.subject.Admin()
	body, ok := a.userBodies.get(u, admin)
	if !ok {
		var v any = a.userPublic(u)
		if admin {
			v = a.userWithAdmin(u)
		}
		b, err := encodeJSON(v)
		if err != nil {
			return err
		}
		body = b
		a.userBodies.put(u, admin, body)
	}
	writeBody(w, 200, body)
	return nil
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	p := c.p
	f := store.UserFilter{}
	pg, err := p.page()
	if err != nil {
		return err
	}
	f.Page = pg
	if s, ok, err := p.str("username"); err != nil {
		return err
	} else if ok {
		f.Username = s
	}
	if s, ok, err := p.str("search"); err != nil {
		return err
	} else if ok {
		f.Search = s
	}
	for name, apply := range map[string]func(bool){
		"active":  func(b bool) { f.State = pick(b, keygate.UserActive, f.State) },
		"blocked": func(b bool) { f.State = pick(b, keygate.UserBlocked, f.State) },
		"admins":  func(b bool) { f.Admins = b },
		"humans":  func(b bool) { f.ExcludeBots = f.ExcludeBots || b },
		"without_project_bots": func(b bool) {
			f.ExcludeBots = f.ExcludeBots || b
		},
	} {
		b, err := p.boolean(name)
		if err != nil {
			return err
		}
		if b != nil {
			apply(*b)
		}
	}
	admin := c.subject.Admin()
	if admin {
		if f.CreatedAfter, err = p.datetime("created_after"); err != nil {
			return err
		}
		if f.CreatedBefore, err = p.datetime("created_before"); err != nil {
			return err
		}
		if f.OrderBy, err = p.oneOf("order_by", "id", "name", "username", "created_at", "updated_at"); err != nil {
			return err
		}
		if f.Sort, err = p.oneOf("sort", "asc", "desc"); err != nil {
			return err
		}
	}
	users, total, err := a.svc.Users(r.Context(), f)
	if err != nil {
		return err
	}
	paginate(w, r, pg, total, a.externalURL)
	if admin {
		out := make([]userWithAdminJSON, len(users))
		for i, u := range users {
			out[i] = a.userWithAdmin(u)
		}
		writeJSON(w, 200, out)
		return nil
	}
	out := make([]userBasicJSON, len(users))
	for i, u := range users {
		out[i] = a.userBasic(u)
	}
	writeJSON(w, 200, out)
	return nil
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := a.svc.User(r.Context(), id)
	if err != nil {
		return err
	}
	if c.subject.Admin() {
		writeJSON(w, 200, a.userDetailsWithAdmin(u))
		return nil
	}
	writeJSON(w, 200, a.user(u))
	return nil
}

// userInput reads the attributes POST and PUT /users share.
func userInput(p *params) (service.UserInput, error) {
	var in service.UserInput
	var err error
	strs := map[string]**string{
		"username": &in.Username, "email": &in.Email, "name": &in.Name, "password": &in.Password,
		"bio": &in.Bio, "location": &in.Location, "public_email": &in.PublicEmail,
		"website_url": &in.WebsiteURL, "organization": &in.Organization, "job_title": &in.JobTitle,
		"pronouns": &in.Pronouns, "note": &in.Note,
	}
	for name, dst := range strs {
		if *dst, err = p.strPtr(name); err != nil {
			return in, err
		}
	}
	bools := map[string]**bool{
		"admin": &in.Admin, "external": &in.External, "can_create_group": &in.CanCreateGroup,
		"private_profile": &in.PrivateProfile,
	}
	for name, dst := range bools {
		if *dst, err = p.boolean(name); err != nil {
			return in, err
		}
	}
	if n, err := p.integer("projects_limit"); err != nil {
		return in, err
	} else if n != nil {
		v := int(*n)
		in.ProjectsLimit = &v
	}
	return in, nil
}

// userWriteError renders a failed user write: taken email/username is 409, a model
// validation failure is 400 {"message":{field:[msg]}}.
func userWriteError(err error) error {
	ke, ok := err.(*keygate.Error)
	if ok && ke.Code == keygate.CodeInvalid && ke.Field != "" {
		return validationError(ke.Field, ke.Message)
	}
	return err
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	for _, name := range []string{"email", "name", "username"} {
		if _, err := c.p.requiredStr(name); err != nil {
			return err
		}
	}
	if !c.p.has("password") && !c.p.has("reset_password") && !c.p.has("force_random_password") {
		return paramError("password, reset_password, force_random_password are missing, at least one parameter must be provided")
	}
	in, err := userInput(c.p)
	if err != nil {
		return err
	}
	u, err := a.svc.CreateUser(r.Context(), c.subject, in)
	if err != nil {
		return userWriteError(err)
	}
	writeJSON(w, 201, a.userWithAdmin(u))
	return nil
}

func (a *API) modifyUser(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	in, err := userInput(c.p)
	if err != nil {
		return err
	}
	u, err := a.svc.UpdateUser(r.Context(), c.subject, id, in)
	if err != nil {
		return userWriteError(err)
	}
	writeJSON(w, 200, a.userWithAdmin(u))
	return nil
}

// userState serves block/unblock/deactivate/activate: 201 with body true, except that
// blocking a blocked or deactivating a deactivated user answers 201 with an empty body
// (lib/api/users.rb `break`s there; unblock and activate report success either way).
func (a *API) userState(action service.StateAction) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		changed, err := a.svc.SetUserState(r.Context(), c.subject, id, action)
		if err != nil {
			return err
		}
		if !changed && (action == service.ActionBlock || action == service.ActionDeactivate) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			return nil
		}
		writeJSON(w, 201, true)
		return nil
	}
}
