package server

import (
	"reflect"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/freshmart/platform/broker/internal/auth"
)

// The authorizer's table: for each API key, the resources a request names
// and the operation each needs, as Kafka's KafkaApis checks them, and how a
// denial is answered. A rule returns either a whole response (the request
// is refused and its handler never runs) or nothing and, optionally, a
// post function: the rule removed the denied resources from the request,
// the handler serves the rest, and post adds the denied ones back into the
// response with their per-resource error (TOPIC_AUTHORIZATION_FAILED,
// GROUP_AUTHORIZATION_FAILED, ...). Keys without a rule (ApiVersions, the
// SASL keys) are always allowed. The transaction keys (24-28, 61, 65, 66)
// have rows here so that they are enforced once their handlers exist.

type rule func(q *authzReq, r *Request) (deny kmsg.Response, post func(kmsg.Response))

type authzReq struct {
	a               *auth.Authorizer
	principal, host string
	s               *Server
}

func (q *authzReq) ok(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return q.a.Authorize(q.principal, q.host, op, rt, name)
}
func (q *authzReq) topic(op kmsg.ACLOperation, name string) bool {
	return q.ok(op, kmsg.ACLResourceTypeTopic, name)
}
func (q *authzReq) group(op kmsg.ACLOperation, name string) bool {
	return q.ok(op, kmsg.ACLResourceTypeGroup, name)
}
func (q *authzReq) txn(op kmsg.ACLOperation, id string) bool {
	return q.ok(op, kmsg.ACLResourceTypeTransactionalId, id)
}
func (q *authzReq) cluster(op kmsg.ACLOperation) bool {
	return q.ok(op, kmsg.ACLResourceTypeCluster, auth.ClusterName)
}

// topicName returns the name of a topic given by id (v13+ Fetch and the like).
func (q *authzReq) topicName(id [16]byte) (string, bool) {
	t, ok := q.s.store.TopicByID(id)
	return t.Name, ok
}

const (
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
)

var (
	codeTopic   = kerr.TopicAuthorizationFailed.Code
	codeGroup   = kerr.GroupAuthorizationFailed.Code
	codeCluster = kerr.ClusterAuthorizationFailed.Code
	codeTxn     = kerr.TransactionalIDAuthorizationFailed.Code
)

// topLevel answers r with only its top-level ErrorCode set to code.
func topLevel(r *Request, code int16) kmsg.Response {
	resp := r.Body.ResponseKind()
	resp.SetVersion(r.Version)
	if f := reflect.ValueOf(resp).Elem().FieldByName("ErrorCode"); f.IsValid() && f.CanSet() {
		f.SetInt(int64(code))
	}
	return resp
}

// groupRule refuses the request unless op on the group named by its Group
// field is allowed.
func groupRule(op kmsg.ACLOperation) rule {
	return func(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
		g := reflect.ValueOf(r.Body).Elem().FieldByName("Group").String()
		if !q.group(op, g) {
			return topLevel(r, codeGroup), nil
		}
		return nil, nil
	}
}

// clusterRule refuses the request unless op on the cluster is allowed;
// perItem (optional) answers requests whose response has no top-level code.
func clusterRule(op kmsg.ACLOperation, perItem func(r *Request) kmsg.Response) rule {
	return func(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
		if q.cluster(op) {
			return nil, nil
		}
		if perItem != nil {
			return perItem(r), nil
		}
		return topLevel(r, codeCluster), nil
	}
}

// txnRule refuses the request unless op on its TransactionalID is allowed.
func txnRule(op kmsg.ACLOperation) rule {
	return func(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
		id := reflect.ValueOf(r.Body).Elem().FieldByName("TransactionalID")
		if id.IsValid() && id.Kind() == reflect.String && !q.txn(op, id.String()) {
			return topLevel(r, codeTxn), nil
		}
		return nil, nil
	}
}

// split partitions items into allowed and denied by ok.
func split[T any](items []T, ok func(T) bool) (allowed, denied []T) {
	for _, it := range items {
		if ok(it) {
			allowed = append(allowed, it)
		} else {
			denied = append(denied, it)
		}
	}
	return allowed, denied
}

var authzRules = map[int16]rule{
	kmsg.Produce.Int16():                      ruleProduce,
	kmsg.Fetch.Int16():                        ruleFetch,
	kmsg.ListOffsets.Int16():                  ruleListOffsets,
	kmsg.Metadata.Int16():                     ruleMetadata,
	kmsg.OffsetCommit.Int16():                 ruleOffsetCommit,
	kmsg.OffsetFetch.Int16():                  ruleOffsetFetch,
	kmsg.FindCoordinator.Int16():              ruleFindCoordinator,
	kmsg.JoinGroup.Int16():                    groupRule(opRead),
	kmsg.Heartbeat.Int16():                    groupRule(opRead),
	kmsg.LeaveGroup.Int16():                   groupRule(opRead),
	kmsg.SyncGroup.Int16():                    groupRule(opRead),
	kmsg.DescribeGroups.Int16():               ruleDescribeGroups,
	kmsg.ListGroups.Int16():                   ruleListGroups,
	kmsg.CreateTopics.Int16():                 ruleCreateTopics,
	kmsg.DeleteTopics.Int16():                 ruleDeleteTopics,
	kmsg.DeleteRecords.Int16():                ruleDeleteRecords,
	kmsg.InitProducerID.Int16():               ruleInitProducerID,
	kmsg.OffsetForLeaderEpoch.Int16():         ruleOffsetForLeaderEpoch,
	kmsg.AddPartitionsToTxn.Int16():           ruleAddPartitionsToTxn,
	kmsg.AddOffsetsToTxn.Int16():              ruleAddOffsetsToTxn,
	kmsg.EndTxn.Int16():                       txnRule(opWrite),
	kmsg.TxnOffsetCommit.Int16():              ruleTxnOffsetCommit,
	kmsg.DescribeACLs.Int16():                 clusterRule(opDescribe, nil),
	kmsg.CreateACLs.Int16():                   clusterRule(opAlter, denyCreateAcls),
	kmsg.DeleteACLs.Int16():                   clusterRule(opAlter, denyDeleteAcls),
	kmsg.DescribeConfigs.Int16():              ruleDescribeConfigs,
	kmsg.AlterConfigs.Int16():                 ruleAlterConfigs,
	kmsg.CreatePartitions.Int16():             ruleCreatePartitions,
	kmsg.DeleteGroups.Int16():                 ruleDeleteGroups,
	kmsg.IncrementalAlterConfigs.Int16():      ruleIncrementalAlterConfigs,
	kmsg.OffsetDelete.Int16():                 ruleOffsetDelete,
	kmsg.DescribeUserSCRAMCredentials.Int16(): clusterRule(opDescribe, nil),
	kmsg.AlterUserSCRAMCredentials.Int16():    clusterRule(opAlter, denyAlterScram),
	kmsg.DescribeCluster.Int16():              clusterRule(opDescribe, nil),
	kmsg.DescribeProducers.Int16():            ruleDescribeProducers,
	kmsg.DescribeTransactions.Int16():         ruleDescribeTransactions,
	kmsg.ListTransactions.Int16():             ruleListTransactions,
}

// Produce: WRITE on the transactional id (if any), WRITE on each topic.
func ruleProduce(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.ProduceRequest)
	all := req.TransactionID != nil && !q.txn(opWrite, *req.TransactionID)
	allowed, denied := split(req.Topics, func(t kmsg.ProduceRequestTopic) bool { return !all && q.topic(opWrite, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	code := codeTopic
	if all {
		code = codeTxn
	}
	add := func(resp *kmsg.ProduceResponse) {
		for _, t := range denied {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if len(allowed) == 0 && req.Acks != 0 {
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		add(resp)
		return resp, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) { add(resp.(*kmsg.ProduceResponse)) }
}

// Fetch: READ on each topic (by name, or v13+ by id).
func ruleFetch(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.FetchRequest)
	allowed, denied := split(req.Topics, func(t kmsg.FetchRequestTopic) bool {
		name := t.Topic
		if r.Version >= 13 {
			n, ok := q.topicName(t.TopicID)
			if !ok {
				return true // the handler answers UNKNOWN_TOPIC_ID
			}
			name = n
		}
		return q.topic(opRead, name)
	})
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		fr := resp.(*kmsg.FetchResponse)
		for _, t := range denied {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
	}
}

// ListOffsets: DESCRIBE on each topic.
func ruleListOffsets(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	allowed, denied := split(req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return q.topic(opDescribe, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.Offset, rp.Timestamp = p.Partition, codeTopic, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			lr.Topics = append(lr.Topics, rt)
		}
	}
}

// Metadata: DESCRIBE on each topic. Topics the principal may not describe
// are left out of an all-topics answer (as Kafka does) and answered
// TOPIC_AUTHORIZATION_FAILED when named, without being auto-created.
func ruleMetadata(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.MetadataRequest)
	all := req.Topics == nil || (r.Version == 0 && len(req.Topics) == 0)
	var denied []string
	if !all {
		allowed, d := split(req.Topics, func(t kmsg.MetadataRequestTopic) bool {
			return t.Topic == nil || q.topic(opDescribe, *t.Topic)
		})
		for _, t := range d {
			denied = append(denied, *t.Topic)
		}
		req.Topics = allowed
		if req.Topics == nil {
			req.Topics = []kmsg.MetadataRequestTopic{} // v1+: no topics, not all
		}
	}
	// v0 reads an empty list as "all topics": when every named topic was
	// denied, the handler's topics are dropped.
	none := !all && r.Version == 0 && len(req.Topics) == 0
	return nil, func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		if none {
			mr.Topics = nil
		}
		mr.Topics = slices.DeleteFunc(mr.Topics, func(t kmsg.MetadataResponseTopic) bool {
			if t.Topic == nil || q.topic(opDescribe, *t.Topic) {
				return false
			}
			if !all {
				denied = append(denied, *t.Topic) // named by id
			}
			return true
		})
		for _, name := range denied {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.ErrorCode = kmsg.StringPtr(name), codeTopic
			mr.Topics = append(mr.Topics, mt)
		}
	}
}

// OffsetCommit: READ on the group, READ on each topic.
func ruleOffsetCommit(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	groupOK := q.group(opRead, req.Group)
	allowed, denied := split(req.Topics, func(t kmsg.OffsetCommitRequestTopic) bool { return groupOK && q.topic(opRead, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	code := codeTopic
	if !groupOK {
		code = codeGroup
	}
	add := func(resp *kmsg.OffsetCommitResponse) {
		for _, t := range denied {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if len(allowed) == 0 {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.SetVersion(r.Version)
		add(resp)
		return resp, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) { add(resp.(*kmsg.OffsetCommitResponse)) }
}

// OffsetFetch: DESCRIBE on each group; topics the principal may not
// describe are dropped (all topics) or answered TOPIC_AUTHORIZATION_FAILED.
func ruleOffsetFetch(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	if r.Version < 8 && !q.group(opDescribe, req.Group) {
		resp := topLevel(r, codeGroup).(*kmsg.OffsetFetchResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.Offset = p, codeGroup, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return nil, func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetFetchResponse)
		fix := func(all bool, topics []kmsg.OffsetFetchResponseTopic) []kmsg.OffsetFetchResponseTopic {
			return slices.DeleteFunc(topics, func(t kmsg.OffsetFetchResponseTopic) bool {
				if q.topic(opDescribe, t.Topic) {
					return false
				}
				for i := range t.Partitions {
					t.Partitions[i].ErrorCode, t.Partitions[i].Offset = codeTopic, -1
				}
				return all
			})
		}
		if r.Version < 8 {
			or.Topics = fix(req.Topics == nil, or.Topics)
			return
		}
		for gi := range or.Groups {
			g := &or.Groups[gi]
			if !q.group(opDescribe, g.Group) {
				g.ErrorCode, g.Topics = codeGroup, nil
				continue
			}
			var all bool
			for _, rg := range req.Groups {
				if rg.Group == g.Group {
					all = rg.Topics == nil
				}
			}
			g.Topics = slices.DeleteFunc(g.Topics, func(t kmsg.OffsetFetchResponseGroupTopic) bool {
				if q.topic(opDescribe, t.Topic) {
					return false
				}
				for i := range t.Partitions {
					t.Partitions[i].ErrorCode, t.Partitions[i].Offset = codeTopic, -1
				}
				return all
			})
		}
	}
}

// FindCoordinator: DESCRIBE on the group (key type 0) or transactional id (1).
func ruleFindCoordinator(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	check := func(key string) int16 {
		if req.CoordinatorType == 1 {
			if !q.txn(opDescribe, key) {
				return codeTxn
			}
		} else if !q.group(opDescribe, key) {
			return codeGroup
		}
		return 0
	}
	if r.Version < 4 {
		if code := check(req.CoordinatorKey); code != 0 {
			resp := topLevel(r, code).(*kmsg.FindCoordinatorResponse)
			resp.NodeID = -1
			return resp, nil
		}
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for i := range fr.Coordinators {
			c := &fr.Coordinators[i]
			if code := check(c.Key); code != 0 {
				c.ErrorCode, c.NodeID, c.Host, c.Port, c.ErrorMessage = code, -1, "", -1, nil
			}
		}
	}
}

// DescribeGroups: DESCRIBE on each group.
func ruleDescribeGroups(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeGroupsResponse)
		for i := range dr.Groups {
			g := &dr.Groups[i]
			if !q.group(opDescribe, g.Group) {
				name := g.Group
				*g = kmsg.NewDescribeGroupsResponseGroup()
				g.Group, g.ErrorCode = name, codeGroup
			}
		}
	}
}

// ListGroups: every group with DESCRIBE on the cluster, else those the
// principal may describe.
func ruleListGroups(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	if q.cluster(opDescribe) {
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		lr.Groups = slices.DeleteFunc(lr.Groups, func(g kmsg.ListGroupsResponseGroup) bool { return !q.group(opDescribe, g.Group) })
	}
}

// CreateTopics: CREATE on the cluster or on each topic.
func ruleCreateTopics(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	if q.cluster(opCreate) {
		return nil, nil
	}
	req := r.Body.(*kmsg.CreateTopicsRequest)
	allowed, denied := split(req.Topics, func(t kmsg.CreateTopicsRequestTopic) bool { return q.topic(opCreate, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreateTopicsResponse)
		for _, t := range denied {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.NumPartitions, rt.ReplicationFactor = t.Topic, codeTopic, -1, -1
			rt.ErrorMessage = kmsg.StringPtr("not authorized to create topic " + t.Topic)
			cr.Topics = append(cr.Topics, rt)
		}
	}
}

// DeleteTopics: DELETE on each topic (by name, or v6 by id).
func ruleDeleteTopics(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	var deniedNames []string
	var deniedTopics []kmsg.DeleteTopicsRequestTopic
	req.TopicNames, deniedNames = split(req.TopicNames, func(n string) bool { return q.topic(opDelete, n) })
	req.Topics, deniedTopics = split(req.Topics, func(t kmsg.DeleteTopicsRequestTopic) bool {
		if t.Topic != nil {
			return q.topic(opDelete, *t.Topic)
		}
		n, ok := q.topicName(t.TopicID)
		return !ok || q.topic(opDelete, n)
	})
	if len(deniedNames)+len(deniedTopics) == 0 {
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteTopicsResponse)
		for _, n := range deniedNames {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = kmsg.StringPtr(n), codeTopic
			dr.Topics = append(dr.Topics, rt)
		}
		for _, t := range deniedTopics {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, codeTopic
			dr.Topics = append(dr.Topics, rt)
		}
	}
}

// DeleteRecords: DELETE on each topic.
func ruleDeleteRecords(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	allowed, denied := split(req.Topics, func(t kmsg.DeleteRecordsRequestTopic) bool { return q.topic(opDelete, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range denied {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, codeTopic, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	}
}

// InitProducerId: WRITE on the transactional id; an idempotent producer
// needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (Kafka 3.0+).
func ruleInitProducerID(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	deny := func(code int16) kmsg.Response {
		resp := topLevel(r, code).(*kmsg.InitProducerIDResponse)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		return resp
	}
	if req.TransactionalID != nil {
		if !q.txn(opWrite, *req.TransactionalID) {
			return deny(codeTxn), nil
		}
		return nil, nil
	}
	if q.cluster(opIdempotentWrite) || q.a.AnyAllowed(q.principal, q.host, opWrite, kmsg.ACLResourceTypeTopic) {
		return nil, nil
	}
	return deny(codeCluster), nil
}

// OffsetForLeaderEpoch: DESCRIBE on each topic.
func ruleOffsetForLeaderEpoch(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	allowed, denied := split(req.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool { return q.topic(opDescribe, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, codeTopic, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	}
}

// configResource maps a config resource to its ACL resource.
func (q *authzReq) configOK(op kmsg.ACLOperation, rt kmsg.ConfigResourceType, name string) (bool, int16) {
	if rt == kmsg.ConfigResourceTypeTopic {
		return q.topic(op, name), codeTopic
	}
	return q.cluster(op), codeCluster
}

// DescribeConfigs: DESCRIBE_CONFIGS on each topic or on the cluster (broker).
func ruleDescribeConfigs(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeConfigsResponse)
		for i := range dr.Resources {
			res := &dr.Resources[i]
			if ok, code := q.configOK(opDescribeConfigs, res.ResourceType, res.ResourceName); !ok {
				res.ErrorCode, res.Configs, res.ErrorMessage = code, nil, kmsg.StringPtr("not authorized")
			}
		}
	}
}

// AlterConfigs: ALTER_CONFIGS on each resource.
func ruleAlterConfigs(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	allowed, denied := split(req.Resources, func(res kmsg.AlterConfigsRequestResource) bool {
		ok, _ := q.configOK(opAlterConfigs, res.ResourceType, res.ResourceName)
		return ok
	})
	if len(denied) == 0 {
		return nil, nil
	}
	req.Resources = allowed
	return nil, func(resp kmsg.Response) {
		ar := resp.(*kmsg.AlterConfigsResponse)
		for _, res := range denied {
			_, code := q.configOK(opAlterConfigs, res.ResourceType, res.ResourceName)
			rr := kmsg.NewAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, code
			ar.Resources = append(ar.Resources, rr)
		}
	}
}

// IncrementalAlterConfigs: ALTER_CONFIGS on each resource.
func ruleIncrementalAlterConfigs(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	allowed, denied := split(req.Resources, func(res kmsg.IncrementalAlterConfigsRequestResource) bool {
		ok, _ := q.configOK(opAlterConfigs, res.ResourceType, res.ResourceName)
		return ok
	})
	if len(denied) == 0 {
		return nil, nil
	}
	req.Resources = allowed
	return nil, func(resp kmsg.Response) {
		ar := resp.(*kmsg.IncrementalAlterConfigsResponse)
		for _, res := range denied {
			_, code := q.configOK(opAlterConfigs, res.ResourceType, res.ResourceName)
			rr := kmsg.NewIncrementalAlterConfigsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ErrorCode = res.ResourceType, res.ResourceName, code
			ar.Resources = append(ar.Resources, rr)
		}
	}
}

// CreatePartitions: ALTER on each topic.
func ruleCreatePartitions(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	allowed, denied := split(req.Topics, func(t kmsg.CreatePartitionsRequestTopic) bool { return q.topic(opAlter, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreatePartitionsResponse)
		for _, t := range denied {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, codeTopic
			cr.Topics = append(cr.Topics, rt)
		}
	}
}

// DeleteGroups: DELETE on each group.
func ruleDeleteGroups(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	allowed, denied := split(req.Groups, func(g string) bool { return q.group(opDelete, g) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Groups = allowed
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range denied {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, codeGroup
			dr.Groups = append(dr.Groups, rg)
		}
	}
}

// OffsetDelete: DELETE on the group, READ on each topic.
func ruleOffsetDelete(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	if !q.group(opDelete, req.Group) {
		return topLevel(r, codeGroup), nil
	}
	allowed, denied := split(req.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool { return q.topic(opRead, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	}
}

func denyCreateAcls(r *Request) kmsg.Response {
	req := r.Body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.SetVersion(r.Version)
	for range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		res.ErrorCode = codeCluster
		resp.Results = append(resp.Results, res)
	}
	return resp
}

func denyDeleteAcls(r *Request) kmsg.Response {
	req := r.Body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.SetVersion(r.Version)
	for range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		res.ErrorCode = codeCluster
		resp.Results = append(resp.Results, res)
	}
	return resp
}

func denyAlterScram(r *Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	resp.SetVersion(r.Version)
	for _, d := range req.Deletions {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = d.Name, codeCluster
		resp.Results = append(resp.Results, res)
	}
	for _, u := range req.Upsertions {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = u.Name, codeCluster
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// AddPartitionsToTxn: WRITE on the transactional id and on each topic
// (v0-3; v4 batches by transaction: WRITE on each id, CLUSTER_ACTION for
// the broker-side batch is not offered).
func ruleAddPartitionsToTxn(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	resp.SetVersion(r.Version)
	if r.Version >= 4 {
		for _, t := range req.Transactions {
			if !q.txn(opWrite, t.TransactionalID) {
				resp.ErrorCode = codeTxn
				return resp, nil
			}
		}
		return nil, nil
	}
	txnOK := q.txn(opWrite, req.TransactionalID)
	anyDenied := !txnOK
	for _, t := range req.Topics {
		if !q.topic(opWrite, t.Topic) {
			anyDenied = true
		}
	}
	if !anyDenied {
		return nil, nil
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		code := kerr.OperationNotAttempted.Code
		switch {
		case !txnOK:
			code = codeTxn
		case !q.topic(opWrite, t.Topic):
			code = codeTopic
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// AddOffsetsToTxn: WRITE on the transactional id, READ on the group.
func ruleAddOffsetsToTxn(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	if !q.txn(opWrite, req.TransactionalID) {
		return topLevel(r, codeTxn), nil
	}
	if !q.group(opRead, req.Group) {
		return topLevel(r, codeGroup), nil
	}
	return nil, nil
}

// TxnOffsetCommit: WRITE on the transactional id, READ on the group and on
// each topic.
func ruleTxnOffsetCommit(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	code := int16(0)
	switch {
	case !q.txn(opWrite, req.TransactionalID):
		code = codeTxn
	case !q.group(opRead, req.Group):
		code = codeGroup
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	resp.SetVersion(r.Version)
	denied := false
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		c := code
		if c == 0 && !q.topic(opRead, t.Topic) {
			c, denied = codeTopic, true
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, c
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if code == 0 && !denied {
		return nil, nil
	}
	return resp, nil
}

// DescribeProducers: READ on each topic.
func ruleDescribeProducers(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	req := r.Body.(*kmsg.DescribeProducersRequest)
	allowed, denied := split(req.Topics, func(t kmsg.DescribeProducersRequestTopic) bool { return q.topic(opRead, t.Topic) })
	if len(denied) == 0 {
		return nil, nil
	}
	req.Topics = allowed
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeProducersResponse)
		for _, t := range denied {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codeTopic
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	}
}

// DescribeTransactions: DESCRIBE on each transactional id.
func ruleDescribeTransactions(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeTransactionsResponse)
		for i := range dr.TransactionStates {
			ts := &dr.TransactionStates[i]
			if !q.txn(opDescribe, ts.TransactionalID) {
				id := ts.TransactionalID
				*ts = kmsg.NewDescribeTransactionsResponseTransactionState()
				ts.TransactionalID, ts.ErrorCode = id, codeTxn
			}
		}
	}
}

// ListTransactions: only the transactional ids the principal may describe.
func ruleListTransactions(q *authzReq, r *Request) (kmsg.Response, func(kmsg.Response)) {
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListTransactionsResponse)
		lr.TransactionStates = slices.DeleteFunc(lr.TransactionStates, func(t kmsg.ListTransactionsResponseTransactionState) bool {
			return !q.txn(opDescribe, t.TransactionalID)
		})
	}
}
