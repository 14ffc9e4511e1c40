package httpapi

import (
	"net/http"

	"github.com/docketd/docket/scheduler/api"
)

// bodyPublish is the largest publish body: SNS's 256 KiB message (or a
// batch's messages together), with their JSON escaping and attributes.
const bodyPublish = 2 << 20

func (a *API) createTopic(w http.ResponseWriter, r *http.Request) {
	var in api.TopicSettings
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.CreateTopic(r.Context(), identity(r), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) listTopics(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.srv.ListTopics(r.Context(), identity(r)))
}

func (a *API) getTopic(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.GetTopic(r.Context(), identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) deleteTopic(w http.ResponseWriter, r *http.Request) {
	if err := a.srv.DeleteTopic(r.Context(), identity(r), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) publish(w http.ResponseWriter, r *http.Request) {
	var in api.PublishRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.Publish(r.Context(), identity(r), r.PathValue("name"), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) publishBatch(w http.ResponseWriter, r *http.Request) {
	var in api.PublishBatchRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.PublishBatch(r.Context(), identity(r), r.PathValue("name"), in.Messages)
	answer(a, w, r, http.StatusOK, api.PublishBatchResponse{Results: out}, err)
}

func (a *API) subscribe(w http.ResponseWriter, r *http.Request) {
	var in api.SubscribeRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.Subscribe(r.Context(), identity(r), r.PathValue("name"), in)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) confirmSubscription(w http.ResponseWriter, r *http.Request) {
	var in api.ConfirmRequest
	if err := decode(w, r, &in, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, err := a.srv.ConfirmSubscription(r.Context(), r.PathValue("name"), in.Token, false, false)
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	out, err := a.srv.TopicSubscriptions(r.Context(), identity(r), r.PathValue("name"))
	answer(a, w, r, http.StatusOK, out, err)
}

func (a *API) unsubscribe(w http.ResponseWriter, r *http.Request) {
	if err := a.srv.Unsubscribe(r.Context(), identity(r), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// signingCert serves the certificate SNS notifications are signed with:
// public, as subscribers fetch it to check a notification.
func (a *API) signingCert(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(a.srv.SigningCert())
}
