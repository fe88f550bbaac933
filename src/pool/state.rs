//! Worker states and recycle reasons, named as RoadRunner's fsm
//! (contract.md §2.9), so logs, `rr workers` and metrics read the same.

/// RoadRunner's worker state numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Inactive = 0,
    Ready = 1,
    Working = 2,
    Invalid = 3,
    Stopping = 4,
    Stopped = 5,
    MaxJobsReached = 7,
    Errored = 8,
    IdleTtlReached = 9,
    TtlReached = 10,
    MaxMemoryReached = 11,
    ExecTtlReached = 12,
}

impl Status {
    pub fn from_u8(v: u8) -> Status {
        match v {
            1 => Status::Ready,
            2 => Status::Working,
            3 => Status::Invalid,
            4 => Status::Stopping,
            5 => Status::Stopped,
            7 => Status::MaxJobsReached,
            8 => Status::Errored,
            9 => Status::IdleTtlReached,
            10 => Status::TtlReached,
            11 => Status::MaxMemoryReached,
            12 => Status::ExecTtlReached,
            _ => Status::Inactive,
        }
    }

    /// RoadRunner's `statusStr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Inactive => "inactive",
            Status::Ready => "ready",
            Status::Working => "working",
            Status::Invalid => "invalid",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::MaxJobsReached => "maxJobsReached",
            Status::Errored => "errored",
            Status::IdleTtlReached => "idleTTLReached",
            Status::TtlReached => "ttlReached",
            Status::MaxMemoryReached => "maxMemoryReached",
            Status::ExecTtlReached => "execTTLReached",
        }
    }
}

/// Why a worker life ended and a new one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    MaxJobs = 0,
    Ttl,
    IdleTtl,
    MaxMemory,
    ExecTtl,
    /// The script ended on its own: exit(), an uncaught exception, a fatal error.
    Errored,
    /// `rr reset`, SIGHUP, opcache_reset(), the file watcher.
    Reset,
    /// `$worker->stop()`.
    WorkerStop,
    /// Garbage on the relay, or a frame while idle.
    Protocol,
    /// The life ended before taking a request.
    BootFailed,
    /// Pool shutdown.
    Shutdown,
}

pub const REASONS: [Reason; 11] = [
    Reason::MaxJobs,
    Reason::Ttl,
    Reason::IdleTtl,
    Reason::MaxMemory,
    Reason::ExecTtl,
    Reason::Errored,
    Reason::Reset,
    Reason::WorkerStop,
    Reason::Protocol,
    Reason::BootFailed,
    Reason::Shutdown,
];

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MaxJobs => "maxJobsReached",
            Reason::Ttl => "ttlReached",
            Reason::IdleTtl => "idleTTLReached",
            Reason::MaxMemory => "maxMemoryReached",
            Reason::ExecTtl => "execTTLReached",
            Reason::Errored => "errored",
            Reason::Reset => "reset",
            Reason::WorkerStop => "stopped",
            Reason::Protocol => "protocolError",
            Reason::BootFailed => "bootFailed",
            Reason::Shutdown => "shutdown",
        }
    }

    /// The state a worker shows while it leaves for this reason.
    pub fn status(self) -> Status {
        match self {
            Reason::MaxJobs => Status::MaxJobsReached,
            Reason::Ttl => Status::TtlReached,
            Reason::IdleTtl => Status::IdleTtlReached,
            Reason::MaxMemory => Status::MaxMemoryReached,
            Reason::ExecTtl => Status::ExecTtlReached,
            Reason::Errored | Reason::Protocol | Reason::BootFailed => Status::Errored,
            Reason::Reset | Reason::WorkerStop | Reason::Shutdown => Status::Stopping,
        }
    }
}
