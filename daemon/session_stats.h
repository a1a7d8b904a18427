/*
 * session_stats.h - a client session's states and the client channel's
 * counters (daemon/session.h), apart so that homad's counters
 * (daemon/stats.h) can hold them without the session's dependencies.
 */
#ifndef HOMAD_SESSION_STATS_H
#define HOMAD_SESSION_STATS_H

#include <stdint.h>

/* A session's life (session.h has the diagram). */
enum session_state {
	SESS_OPENING, /* waiting for the Open datagram */
	SESS_OPEN,    /* has an engine socket */
	SESS_LINGER,  /* Open refused: closes once its answer is sent */
	SESS_DOOMED,  /* to be closed by the shell's flush */
	SESS_CLOSING, /* inside session_close: engine socket closing */
	SESS_CLOSED,  /* waiting for requests in flight and lent messages */
	SESS_DEAD,    /* freed (session_fini) */
	SESS_N_STATES
};

/*
 * The channel's counters (homactl metrics chan_*, chan_state_changes,
 * chan_illegal_transitions; daemon/stats.c walks them).
 */
struct session_stats {
	uint64_t chan_connects;	       /* client connections accepted */
	uint64_t chan_refused;	       /* refused: limits (clients, per pid) */
	uint64_t chan_disconnects;     /* sessions ended, for any reason */
	uint64_t chan_bad_open;	       /* bad Open: fds, seals, sizes, ... */
	uint64_t chan_bad_messages;    /* malformed/invalid: disconnected */
	uint64_t chan_event_overflows; /* client not reading: disconnected */
	uint64_t chan_commands;	       /* client messages processed */
	uint64_t chan_events;	       /* event datagrams sent to clients */
	uint64_t chan_bind_denied;     /* binds refused by clients.bind_* */
	uint64_t chan_direct_granted;  /* connections given direct send */
	uint64_t chan_direct_denied;   /* asked, not in direct_send_groups */
	uint64_t chan_direct_refused;  /* asked, allowed: limit or failure */
	uint64_t chan_direct_records;  /* ring records adopted */
	uint64_t chan_direct_bad;      /* bad records: disconnected */
	uint64_t chan_direct_torn;     /* of which torn (seq mismatch) */
	uint64_t chan_direct_drains;   /* ring drains that found records */
	uint64_t chan_direct_rx_granted;  /* connections given direct receive */
	uint64_t chan_direct_rx_refused;  /* asked, not granted */
	uint64_t chan_direct_rx_records;  /* RECEIVED records: RPCs ended */
	uint64_t chan_direct_rx_stale;	  /* ... for RPCs no longer there */
	uint64_t chan_direct_rx_fallback; /* DirectPacket commands taken */
	uint64_t chan_direct_srx_granted; /* request sockets given (Bind) */
	uint64_t chan_direct_srx_refused; /* asked, not given */
	uint64_t chan_direct_srx_records; /* ARRIVED records taken */
	uint64_t chan_direct_srx_stale;	  /* ... refused by the engine */
	uint64_t chan_direct_srx_revoked; /* request sockets revoked */
	uint64_t chan_direct_srx_late;	  /* requests handed over after */
	uint64_t transitions;		  /* legal state changes */
	uint64_t illegal_transitions;	  /* refused state changes */
	uint64_t entered[SESS_N_STATES];  /* legal changes into each state */
};

#endif /* HOMAD_SESSION_STATS_H */
