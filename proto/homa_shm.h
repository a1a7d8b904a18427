/*
 * homa_shm.h - constants shared by homad and the client libraries: the
 * client protocol's framing and the shared-memory regions' rules (see
 * proto/homa_client.proto for the messages).
 */
#ifndef HOMAD_PROTO_HOMA_SHM_H
#define HOMAD_PROTO_HOMA_SHM_H

/* Version in Open.version; homad refuses others (EPROTO). */
#define HOMA_CLIENT_PROTO_VERSION 1

/* Largest datagram either side sends or accepts on the connection. */
#define HOMA_CLIENT_MAX_DATAGRAM 65536

/* Receive pool: bpages of 64 KiB; a message uses at most 16. */
#define HOMA_SHM_BPAGE_SIZE 65536u
#define HOMA_SHM_MAX_BPAGES 16

/* Limits homad enforces on the regions (bytes). */
#define HOMA_SHM_MIN_RX_POOL (2u * HOMA_SHM_BPAGE_SIZE)
#define HOMA_SHM_MAX_RX_POOL (4ull << 30)
#define HOMA_SHM_MAX_TX_AREA (4ull << 30)

/* Seals homad requires on both memfds. */
#define HOMA_SHM_REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

#endif /* HOMAD_PROTO_HOMA_SHM_H */
