using System.Runtime.InteropServices;

namespace Scalio.Verbs.Libfabric;

// Bindings to libfabric 1.x (layouts checked against the headers of Debian's libfabric 1.17, /usr/include/rdma/*.h).
// The shared object exports only fi_getinfo, fi_fabric, fi_freeinfo, fi_dupinfo, fi_version and fi_strerror;
// everything else is reached through the ops tables that every object (struct fid_*) carries, exactly as the
// static inline wrappers of the C headers do. Structs below mirror the C layouts on LP64 (x86-64, arm64).

#pragma warning disable CS0649 // fields are filled by native code

internal static partial class Fi
{
    public const uint Major = 1, Minor = 17;
    public const uint Version = (Major << 16) | Minor;

    // Capabilities and operation flags (fabric.h).
    public const ulong FI_MSG = 1UL << 1, FI_RMA = 1UL << 2, FI_ATOMIC = 1UL << 4;
    public const ulong FI_READ = 1UL << 8, FI_WRITE = 1UL << 9, FI_RECV = 1UL << 10, FI_SEND = 1UL << 11;
    public const ulong FI_REMOTE_READ = 1UL << 12, FI_REMOTE_WRITE = 1UL << 13;
    public const ulong FI_REMOTE_CQ_DATA = 1UL << 17, FI_FENCE = 1UL << 21, FI_COMPLETION = 1UL << 24;
    public const ulong FI_DELIVERY_COMPLETE = 1UL << 28;
    public const ulong FI_SOURCE = 1UL << 57, FI_DIRECTED_RECV = 1UL << 59;
    public const ulong FI_LOCAL_COMM = 1UL << 51, FI_REMOTE_COMM = 1UL << 52, FI_RMA_EVENT = 1UL << 56;

    // Mode bits.
    public const ulong FI_CONTEXT = 1UL << 59, FI_CONTEXT2 = 1UL << 52, FI_RX_CQ_DATA = 1UL << 56;

    // mr_mode bits.
    public const int FI_MR_LOCAL = 1 << 2, FI_MR_RAW = 1 << 3, FI_MR_VIRT_ADDR = 1 << 4, FI_MR_ALLOCATED = 1 << 5;
    public const int FI_MR_PROV_KEY = 1 << 6, FI_MR_MMU_NOTIFY = 1 << 7, FI_MR_RMA_EVENT = 1 << 8, FI_MR_ENDPOINT = 1 << 9;
    public const int FI_MR_HMEM = 1 << 10;

    // Ordering bits.
    public const ulong FI_ORDER_RAR = 1UL << 0, FI_ORDER_RAW = 1UL << 1, FI_ORDER_RAS = 1UL << 2, FI_ORDER_WAR = 1UL << 3;
    public const ulong FI_ORDER_WAW = 1UL << 4, FI_ORDER_WAS = 1UL << 5, FI_ORDER_SAR = 1UL << 6, FI_ORDER_SAW = 1UL << 7;
    public const ulong FI_ORDER_SAS = 1UL << 8;
    public const ulong FI_ORDER_RMA_RAR = 1UL << 32, FI_ORDER_RMA_RAW = 1UL << 33, FI_ORDER_RMA_WAR = 1UL << 34, FI_ORDER_RMA_WAW = 1UL << 35;
    public const ulong FI_ORDER_ATOMIC_RAR = 1UL << 36, FI_ORDER_ATOMIC_RAW = 1UL << 37, FI_ORDER_ATOMIC_WAR = 1UL << 38, FI_ORDER_ATOMIC_WAW = 1UL << 39;

    public const ulong FI_ADDR_UNSPEC = ulong.MaxValue;

    // enum fi_ep_type, fi_threading, fi_progress, fi_av_type, fi_cq_format, fi_wait_obj.
    public const int FI_EP_MSG = 1, FI_EP_RDM = 3;
    public const int FI_THREAD_SAFE = 1;
    public const int FI_PROGRESS_AUTO = 1, FI_PROGRESS_MANUAL = 2;
    public const int FI_AV_MAP = 1, FI_AV_TABLE = 2;
    public const int FI_CQ_FORMAT_DATA = 3;
    public const int FI_WAIT_NONE = 0, FI_WAIT_UNSPEC = 1, FI_WAIT_FD = 3;

    // enum fi_datatype / fi_op.
    public const int FI_UINT64 = 7;
    public const int FI_SUM = 2, FI_CSWAP = 12;

    // Control command (enum in fabric.h: FI_GETFIDFLAG=0 ... FI_GETWAIT=5, FI_ENABLE=6).
    public const int FI_ENABLE = 6;

    // fi_errno.h (positive values; calls return them negated).
    public const int FI_ENOENT = 2, FI_EIO = 5, FI_EAGAIN = 11, FI_ENOMEM = 12, FI_EACCES = 13, FI_EFAULT = 14;
    public const int FI_EINVAL = 22, FI_ENOSYS = 38, FI_ENODATA = 61, FI_EOPNOTSUPP = 95, FI_ECONNRESET = 104;
    public const int FI_ENOTCONN = 107, FI_ETIMEDOUT = 110, FI_ECONNREFUSED = 111, FI_EHOSTUNREACH = 113;
    public const int FI_EREMOTEIO = 121, FI_ECANCELED = 125, FI_EKEYREJECTED = 129;
    public const int FI_EAVAIL = 259, FI_ETRUNC = 265, FI_EOVERRUN = 268;

    private static readonly Lazy<Exports?> s_exports = new(Load);

    /// <summary>The library's exported entry points; null when libfabric is not installed.</summary>
    public static Exports? Library => s_exports.Value;

    public static string? LoadError { get; private set; }

    private static unsafe Exports? Load()
    {
        nint handle = 0;
        foreach (var name in new[] { "libfabric.so.1", "libfabric.so" })
        {
            if (NativeLibrary.TryLoad(name, out handle)) break;
        }
        if (handle == 0)
        {
            LoadError = "libfabric.so.1 could not be loaded (install Debian's libfabric1: apt-get install libfabric1)";
            return null;
        }
        var e = new Exports
        {
            GetInfo = (delegate* unmanaged<uint, byte*, byte*, ulong, FiInfo*, FiInfo**, int>)NativeLibrary.GetExport(handle, "fi_getinfo"),
            FreeInfo = (delegate* unmanaged<FiInfo*, void>)NativeLibrary.GetExport(handle, "fi_freeinfo"),
            DupInfo = (delegate* unmanaged<FiInfo*, FiInfo*>)NativeLibrary.GetExport(handle, "fi_dupinfo"),
            Fabric = (delegate* unmanaged<FiFabricAttr*, FidFabric**, void*, int>)NativeLibrary.GetExport(handle, "fi_fabric"),
            FiVersion = (delegate* unmanaged<uint>)NativeLibrary.GetExport(handle, "fi_version"),
            StrError = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(handle, "fi_strerror"),
        };
        uint v = e.FiVersion();
        if (v >> 16 != Major || (v & 0xFFFF) < Minor)
        {
            LoadError = $"libfabric {v >> 16}.{v & 0xFFFF} is installed; these bindings need 1.{Minor} or a later 1.x";
            return null;
        }
        return e;
    }

    public static unsafe string StrError(int errorCode)
    {
        var lib = Library;
        if (lib is null) return $"error {errorCode}";
        int positive = errorCode < 0 ? -errorCode : errorCode;
        return Marshal.PtrToStringUTF8((nint)lib.StrError(positive)) ?? $"error {positive}";
    }

    public static void Check(long rc, string what)
    {
        if (rc < 0) throw new LibfabricException(what, (int)-rc);
    }

    /// <summary>Copies a string into malloc'd memory (fi_freeinfo frees hint strings with free()).</summary>
    public static unsafe byte* StrDup(string s)
    {
        int n = System.Text.Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1); // malloc on Unix
        System.Text.Encoding.UTF8.GetBytes(s, new Span<byte>(p, n));
        p[n] = 0;
        return p;
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetEnv(string name);

    /// <summary>Sleeps the calling thread for about <paramref name="microseconds"/> (Thread.Sleep only has milliseconds).</summary>
    [LibraryImport("libc", EntryPoint = "usleep")]
    internal static partial int USleep(uint microseconds);

    /// <summary>Sets a libfabric parameter in the native environment unless the user already set it (libfabric reads
    /// its parameters with getenv when it initialises, at the first fi_getinfo).</summary>
    public static void SetDefaultParameter(string name, string value)
    {
        if (GetEnv(name) == 0) SetEnv(name, value, 0);
    }

    // Wrappers for the static inline functions of the headers.
    public static unsafe int Close(Fid* fid) => fid->ops->close(fid);
    public static unsafe int Bind(Fid* fid, Fid* bound, ulong flags) => fid->ops->bind(fid, bound, flags);
    public static unsafe int Control(Fid* fid, int command, void* arg) => fid->ops->control(fid, command, arg);
}

internal sealed unsafe class Exports
{
    public delegate* unmanaged<uint, byte*, byte*, ulong, FiInfo*, FiInfo**, int> GetInfo;
    public delegate* unmanaged<FiInfo*, void> FreeInfo;
    public delegate* unmanaged<FiInfo*, FiInfo*> DupInfo;
    public delegate* unmanaged<FiFabricAttr*, FidFabric**, void*, int> Fabric;
    public delegate* unmanaged<uint> FiVersion;
    public delegate* unmanaged<int, byte*> StrError;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiTxAttr
{
    public ulong caps, mode, op_flags, msg_order, comp_order;
    public nuint inject_size, size, iov_limit, rma_iov_limit;
    public uint tclass;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiRxAttr
{
    public ulong caps, mode, op_flags, msg_order, comp_order;
    public nuint total_buffered_recv, size, iov_limit;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiEpAttr
{
    public int type;
    public uint protocol, protocol_version;
    public nuint max_msg_size, msg_prefix_size, max_order_raw_size, max_order_war_size, max_order_waw_size;
    public ulong mem_tag_format;
    public nuint tx_ctx_cnt, rx_ctx_cnt, auth_key_size;
    public byte* auth_key;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiDomainAttr
{
    public FidDomain* domain;
    public byte* name;
    public int threading, control_progress, data_progress, resource_mgmt, av_type, mr_mode;
    public nuint mr_key_size, cq_data_size, cq_cnt, ep_cnt, tx_ctx_cnt, rx_ctx_cnt;
    public nuint max_ep_tx_ctx, max_ep_rx_ctx, max_ep_stx_ctx, max_ep_srx_ctx, cntr_cnt, mr_iov_limit;
    public ulong caps, mode;
    public byte* auth_key;
    public nuint auth_key_size, max_err_data, mr_cnt;
    public uint tclass;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiFabricAttr
{
    public FidFabric* fabric;
    public byte* name;
    public byte* prov_name;
    public uint prov_version, api_version;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiInfo
{
    public FiInfo* next;
    public ulong caps, mode;
    public uint addr_format;
    public nuint src_addrlen, dest_addrlen;
    public void* src_addr, dest_addr;
    public Fid* handle;
    public FiTxAttr* tx_attr;
    public FiRxAttr* rx_attr;
    public FiEpAttr* ep_attr;
    public FiDomainAttr* domain_attr;
    public FiFabricAttr* fabric_attr;
    public void* nic;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOps
{
    public nuint size;
    public delegate* unmanaged<Fid*, int> close;
    public delegate* unmanaged<Fid*, Fid*, ulong, int> bind;
    public delegate* unmanaged<Fid*, int, void*, int> control;
    public void* ops_open, tostr, ops_set;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Fid
{
    public nuint fclass;
    public void* context;
    public FiOps* ops;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsFabric
{
    public nuint size;
    public delegate* unmanaged<FidFabric*, FiInfo*, FidDomain**, void*, int> domain;
    public void* passive_ep, eq_open, wait_open, trywait, domain2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FidFabric
{
    public Fid fid;
    public FiOpsFabric* ops;
    public uint api_version;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiAvAttr
{
    public int type;
    public int rx_ctx_bits;
    public nuint count, ep_per_node;
    public byte* name;
    public void* map_addr;
    public ulong flags;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiCqAttr
{
    public nuint size;
    public ulong flags;
    public int format, wait_obj, signaling_vector, wait_cond;
    public void* wait_set;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsDomain
{
    public nuint size;
    public delegate* unmanaged<FidDomain*, FiAvAttr*, FidAv**, void*, int> av_open;
    public delegate* unmanaged<FidDomain*, FiCqAttr*, FidCq**, void*, int> cq_open;
    public delegate* unmanaged<FidDomain*, FiInfo*, FidEp**, void*, int> endpoint;
    public void* scalable_ep, cntr_open, poll_open, stx_ctx, srx_ctx;
    public delegate* unmanaged<FidDomain*, int, int, void*, ulong, int> query_atomic;
    public void* query_collective, endpoint2;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsMr
{
    public nuint size;
    public delegate* unmanaged<Fid*, void*, nuint, ulong, ulong, ulong, ulong, FidMr**, void*, int> reg;
    public void* regv, regattr;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FidDomain
{
    public Fid fid;
    public FiOpsDomain* ops;
    public FiOpsMr* mr;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FidMr
{
    public Fid fid;
    public void* mem_desc;
    public ulong key;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsAv
{
    public nuint size;
    public delegate* unmanaged<FidAv*, void*, nuint, ulong*, ulong, void*, int> insert;
    public void* insertsvc, insertsym;
    public delegate* unmanaged<FidAv*, ulong*, nuint, ulong, int> remove;
    public void* lookup, straddr, av_set;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FidAv
{
    public Fid fid;
    public FiOpsAv* ops;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiCqDataEntry
{
    public void* op_context;
    public ulong flags;
    public nuint len;
    public void* buf;
    public ulong data;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiCqErrEntry
{
    public void* op_context;
    public ulong flags;
    public nuint len;
    public void* buf;
    public ulong data, tag;
    public nuint olen;
    public int err, prov_errno;
    public void* err_data;
    public nuint err_data_size;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsCq
{
    public nuint size;
    public delegate* unmanaged<FidCq*, void*, nuint, nint> read;
    public void* readfrom;
    public delegate* unmanaged<FidCq*, FiCqErrEntry*, ulong, nint> readerr;
    public delegate* unmanaged<FidCq*, void*, nuint, void*, int, nint> sread;
    public void* sreadfrom;
    public delegate* unmanaged<FidCq*, int> signal;
    public delegate* unmanaged<FidCq*, int, void*, byte*, nuint, byte*> strerror;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FidCq
{
    public Fid fid;
    public FiOpsCq* ops;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsEp
{
    public nuint size;
    public delegate* unmanaged<Fid*, void*, nint> cancel;
    public void* getopt, setopt, tx_ctx, rx_ctx, rx_size_left, tx_size_left;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsCm
{
    public nuint size;
    public void* setname;
    public delegate* unmanaged<Fid*, void*, nuint*, int> getname;
    public void* getpeer, connect, listen, accept, reject, shutdown, join;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsMsg
{
    public nuint size;
    public delegate* unmanaged<FidEp*, void*, nuint, void*, ulong, void*, nint> recv;
    public void* recvv, recvmsg;
    public delegate* unmanaged<FidEp*, void*, nuint, void*, ulong, void*, nint> send;
    public void* sendv, sendmsg, inject;
    public delegate* unmanaged<FidEp*, void*, nuint, void*, ulong, ulong, void*, nint> senddata;
    public void* injectdata;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsRma
{
    public nuint size;
    public delegate* unmanaged<FidEp*, void*, nuint, void*, ulong, ulong, ulong, void*, nint> read;
    public void* readv, readmsg;
    public delegate* unmanaged<FidEp*, void*, nuint, void*, ulong, ulong, ulong, void*, nint> write;
    public void* writev;
    public delegate* unmanaged<FidEp*, FiMsgRma*, ulong, nint> writemsg;
    public delegate* unmanaged<FidEp*, void*, nuint, ulong, ulong, ulong, nint> inject;
    public void* writedata, injectdata;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public void* iov_base;
    public nuint iov_len;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiRmaIov
{
    public ulong addr;
    public nuint len;
    public ulong key;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiMsgRma
{
    public IoVec* msg_iov;
    public void** desc;
    public nuint iov_count;
    public ulong addr;
    public FiRmaIov* rma_iov;
    public nuint rma_iov_count;
    public void* context;
    public ulong data;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FiOpsAtomic
{
    public nuint size;
    public void* write, writev, writemsg, inject;
    // readwrite(ep, buf, count, desc, result, result_desc, dest_addr, addr, key, datatype, op, context)
    public delegate* unmanaged<FidEp*, void*, nuint, void*, void*, void*, ulong, ulong, ulong, int, int, void*, nint> readwrite;
    public void* readwritev, readwritemsg;
    // compwrite(ep, buf, count, desc, compare, compare_desc, result, result_desc, dest_addr, addr, key, datatype, op, context)
    public delegate* unmanaged<FidEp*, void*, nuint, void*, void*, void*, void*, void*, ulong, ulong, ulong, int, int, void*, nint> compwrite;
    public void* compwritev, compwritemsg;
    public delegate* unmanaged<FidEp*, int, int, nuint*, int> writevalid;
    public delegate* unmanaged<FidEp*, int, int, nuint*, int> readwritevalid;
    public delegate* unmanaged<FidEp*, int, int, nuint*, int> compwritevalid;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct FidEp
{
    public Fid fid;
    public FiOpsEp* ops;
    public FiOpsCm* cm;
    public FiOpsMsg* msg;
    public FiOpsRma* rma;
    public void* tagged;
    public FiOpsAtomic* atomic;
    public void* collective;
}
