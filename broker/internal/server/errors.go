package server

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/freshmart/platform/broker/internal/storage"
)

// errorCode maps a storage (or context) error to the Kafka error code a
// client acts on. It is the one place where storage errors become codes; nil
// maps to 0 and anything unknown to KAFKA_STORAGE_ERROR (retriable, as a
// disk error is).
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, storage.ErrUnknownTopic), errors.Is(err, storage.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, storage.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, storage.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, storage.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, storage.ErrInvalidTopicName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, storage.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrRecordWithoutKey):
		return kerr.InvalidRecord.Code
	case errors.Is(err, storage.ErrMessageTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, storage.ErrDiskFull), errors.Is(err, storage.ErrClosed):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	}
	return kerr.KafkaStorageError.Code
}

// partitionErrorCode is errorCode for an error from a partition the request
// resolved earlier: a partition closed because its topic was deleted
// meanwhile answers UNKNOWN_TOPIC_OR_PARTITION, as Kafka does.
func (s *Server) partitionErrorCode(p *storage.Partition, err error) int16 {
	if errors.Is(err, storage.ErrClosed) {
		if _, ok := s.store.Topic(p.Topic()); !ok {
			return kerr.UnknownTopicOrPartition.Code
		}
	}
	return errorCode(err)
}

// produceErrorCode adapts a produce partition error code to the request
// version: INVALID_RECORD (a keyless record on a compacted topic) came with
// Produce v8 (KIP-467); before it Kafka answered CORRUPT_MESSAGE, which
// older clients know.
func produceErrorCode(version, code int16) int16 {
	if code == kerr.InvalidRecord.Code && version < 8 {
		return kerr.CorruptMessage.Code
	}
	return code
}

// errorMessage returns err's text for responses that carry a message, or nil.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// errorName returns the Kafka name of an error code (e.g. CORRUPT_MESSAGE).
func errorName(code int16) string {
	if e := kerr.TypedErrorForCode(code); e != nil {
		return e.Message
	}
	return "UNKNOWN_SERVER_ERROR"
}
