package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster: v0-1
//
// Behavior:
//   - The cluster id, this broker as the controller and the only broker
//     (at its advertised address, no rack).
//   - v1 endpoint type 1 (brokers) is served; 2 (controllers) gets
//     UNSUPPORTED_ENDPOINT_TYPE, as a broker answers.
//   - Authorized operations are not computed (left at "not requested").

func init() { Register(kmsg.DescribeCluster.Int16(), 0, 1, handleDescribeCluster) }

func handleDescribeCluster(s *Server, r *Request) (Reply, error) {
	req := r.Body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if r.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return Reply{Resp: resp}, nil
	}
	resp.EndpointType = req.EndpointType
	resp.ClusterID = s.cfg.ClusterID
	resp.ControllerID = s.cfg.NodeID
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, s.advHost, s.advPort
	resp.Brokers = append(resp.Brokers, b)
	return Reply{Resp: resp}, nil
}
