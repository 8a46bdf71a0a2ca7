package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions: v0-4
//
// Behavior:
//   - Lists every API key registered in this package with its version range
//     (so the group APIs appear once their files register them).
//   - KIP-511: a version above 4 cannot be decoded; it is answered with a v0
//     response (v0 response header, as every ApiVersions response) carrying
//     UNSUPPORTED_VERSION and the full list, and the client retries with a
//     version it finds there.
//   - No features (v3+ SupportedFeatures/FinalizedFeatures stay empty); the
//     client software name and version (v3+) are accepted as sent.

func init() { Register(kmsg.ApiVersions.Int16(), 0, 4, handleApiVersions) }

func handleApiVersions(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if r.Version > handlers[r.Key].max {
		resp.Version = 0
		resp.ErrorCode = kerr.UnsupportedVersion.Code
	}
	for _, key := range registeredKeys() {
		h := handlers[key]
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, h.min, h.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return Reply{Resp: resp}, nil
}
