//! Candidate generation: recall channels over the shipped item index and bundle tensors, the
//! merge with per-channel quotas, and the filters (exposure Bloom filter, consumed items,
//! blocklists).
