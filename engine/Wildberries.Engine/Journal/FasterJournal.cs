using System.Buffers;
using FASTER.core;
using Wildberries.Core;

namespace Wildberries.Engine.Journal;

/// <summary>
/// The durable journal: one FasterLog per shard on a local directory, our own entry header and checksum, one
/// commit per batch, verified on every read.
/// </summary>
/// <remarks>
/// One synchronous write per batch: FASTER in fast-commit mode writes the batch and its commit record in the same
/// flush. Its commit metadata (where recovery starts scanning for commit records) goes to the page cache
/// (<see cref="FasterCommitFile"/>), and our <see cref="CommitMark"/> is written by a background thread at most
/// every <see cref="JournalOptions.CommitMarkInterval"/> (<see cref="DeferredCommitMark"/>), which also syncs the
/// commit metadata.
/// </remarks>
public sealed partial class FasterJournal : ICommandJournal
{
    /// <summary>The file-name prefix of the log segments (<c>journal.log.0</c>, <c>journal.log.1</c>, ...).</summary>
    public const string LogFileName = "journal.log";

    private readonly string _directory;
    private readonly IDevice _device;
    private readonly FasterLogSettings _settings;
    private readonly FasterLog _log;
    private readonly CommitMark _mark;
    private readonly DeferredCommitMark? _deferredMark;
    private readonly ILogCommitManager _commitManager;
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly ManualResetEventSlim _committed = new(false, spinCount: 20);
    private readonly Action _onCommitted;
    private readonly bool _legacyCommitPath;
    private readonly bool _readOnly;
    private readonly int _epoch;
    private readonly int _segmentSizeBits;
    private readonly bool _acceptDataLoss;
    private long _appendedLsn;
    private bool _recovered;

    /// <summary>
    /// Opens (or creates) the journal in <paramref name="directory"/>. <paramref name="deviceFactory"/> replaces the
    /// log device (tests inject crashes with it); by default a local file device.
    /// </summary>
    public FasterJournal(string directory, JournalOptions options, Func<string, IDevice>? deviceFactory = null, int epoch = 0)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _directory = directory;
        _epoch = epoch;
        _segmentSizeBits = options.SegmentSizeBits;
        _acceptDataLoss = options.AcceptDataLoss;
        _legacyCommitPath = options.LegacyCommitPath && !options.ReadOnly;
        _readOnly = options.ReadOnly;
        _onCommitted = _committed.Set;
        if (!_readOnly) System.IO.Directory.CreateDirectory(directory);
        var logPath = Path.Combine(directory, LogFileName);
        var dataExisted = System.IO.Directory.EnumerateFiles(directory, LogFileName + ".*").Any(f => new FileInfo(f).Length > 0);
        // Devices.CreateLogDevice picks the managed Linux device; LocalStorageDevice is Windows-only.
        // By default our device, which writes on the committing thread (SyncFileDevice); FASTER's managed device
        // (Devices.CreateLogDevice: LocalStorageDevice is Windows-only) is kept for the benchmark's comparison.
        _device = deviceFactory?.Invoke(logPath)
            ?? (options.FasterManagedDevice || _legacyCommitPath
                ? Devices.CreateLogDevice(logPath, preallocateFile: false, deleteOnClose: false)
                : new SyncFileDevice(logPath, _readOnly));
        var commits = Path.Combine(directory, "commits");
        var commitFile = _legacyCommitPath ? null : new FasterCommitFile(commits, _readOnly);
        _commitManager = commitFile ?? (ILogCommitManager)new DeviceLogCommitCheckpointManager(
            new LocalStorageNamedDeviceFactory(), new DefaultCheckpointNamingScheme(commits), removeOutdated: true);
        _settings = new FasterLogSettings
        {
            LogDevice = _device,
            PageSizeBits = options.PageSizeBits,
            MemorySizeBits = options.MemorySizeBits,
            SegmentSizeBits = options.SegmentSizeBits,
            LogCommitManager = _commitManager,
            FastCommitMode = true,
            LogChecksum = LogChecksumType.PerEntry,
        };
        try
        {
            _log = new FasterLog(_settings);
        }
        catch (Exception ex)
        {
            _device.Dispose();
            _commitManager.Dispose();
            throw new JournalCorruptException($"FASTER could not recover the journal in {directory}: {ex.Message}", ex);
        }
        _mark = CommitMark.Open(Path.Combine(directory, CommitMark.FileName), _readOnly);
        CommitFile = commitFile;
        DataExisted = dataExisted;
        CheckCommitPoint(options.AcceptDataLoss);
        if (_readOnly) return;
        // A new journal gets its mark before the first append, so a crash before the first background write
        // never leaves segments without a mark (which is a refusal).
        if (_mark.Current is null && DataLoss is null)
        {
            _mark.Write(0, _log.BeginAddress, _log.CommittedUntilAddress);
            // The new files' names (the mark, the commit file and its directory) are durable before the first commit.
            if (System.IO.Directory.Exists(commits)) Snapshots.DirectorySync.Fsync(commits);
            Snapshots.DirectorySync.Fsync(directory);
        }
        if (!_legacyCommitPath)
        {
            _deferredMark = new DeferredCommitMark(_mark, options.CommitMarkInterval, $"journal mark {Path.GetFileName(directory)}", commitFile!.Sync);
        }
    }

    /// <summary>Whether log segment files with content were there when the journal was opened.</summary>
    public bool DataExisted { get; }

    /// <inheritdoc />
    public long LastLsn { get; private set; }

    /// <summary>The FASTER address up to which the journal is committed.</summary>
    public long CommittedUntilAddress => _log.CommittedUntilAddress;

    /// <summary>The FASTER address of the first entry still kept.</summary>
    public long BeginAddress => _log.BeginAddress;

    /// <summary>
    /// With <see cref="JournalOptions.AcceptDataLoss"/>: what damage was found and skipped (the valid prefix was
    /// kept). Null when the journal was whole.
    /// </summary>
    public string? DataLoss { get; private set; }

    /// <summary>How many commits were made since open (one per batch).</summary>
    public long CommitCount { get; private set; }

    /// <summary>FASTER's commit metadata file (null on the legacy path), for tests.</summary>
    internal FasterCommitFile? CommitFile { get; }

    /// <summary>The background mark writer (null on the legacy path and read-only), for tests.</summary>
    internal DeferredCommitMark? DeferredMark => _deferredMark;

    /// <inheritdoc />
    public void Append(in Command command)
    {
        if (_readOnly) throw new InvalidOperationException($"The journal in {_directory} was opened read-only.");
        if (!_recovered) throw new InvalidOperationException("Read the journal (recovery) before appending to it.");
        if (command.Lsn != _appendedLsn + 1) throw new InvalidOperationException($"Journal entries must be contiguous: got {command.Lsn} after {_appendedLsn}.");
        CommandCodec.Encode(command, _epoch, _buffer);
        _log.Enqueue(_buffer.WrittenSpan);
        _appendedLsn = command.Lsn;
    }

    /// <inheritdoc />
    public void Commit()
    {
        if (_appendedLsn == LastLsn) return;
        // A failed background mark write is this batch's failure, before anything of it is committed: the
        // batches acknowledged before it are durable (FASTER's commit records hold them).
        _deferredMark?.ThrowIfFailed();
        if (_legacyCommitPath)
        {
            _log.Commit(spinWait: true);
        }
        else
        {
            // In fast-commit mode the batch is durable once the flush holding its commit record is done. With
            // SyncFileDevice that flush runs on this thread inside CommitStrongly (FlushedUntilAddress has passed
            // the commit record when it returns); otherwise sleep until FASTER's commit worker calls back instead
            // of spinning with Thread.Yield for the whole write (on two cores that spin took the core the I/O
            // completion and the replies needed).
            _committed.Reset();
            var committing = System.Diagnostics.Stopwatch.GetTimestamp();
            var strong = _log.CommitStrongly(out var commitTail, out _, spinWait: false, callback: _onCommitted);
            Pipeline.JournalStalls.Observe("commit: FASTER CommitStrongly (flush on this thread)", committing);
            if (!strong)
            {
                _log.Commit(spinWait: true);
            }
            else
            {
                // A late callback of an earlier commit may set the event: the addresses decide. FASTER never calls
                // back after a failed write; a plain commit request throws its failure.
                var waiting = System.Diagnostics.Stopwatch.GetTimestamp();
                while (_log.FlushedUntilAddress < commitTail && _log.CommittedUntilAddress < commitTail)
                {
                    if (_committed.Wait(50)) _committed.Reset();
                    else _log.Commit(spinWait: false);
                }
                Pipeline.JournalStalls.Observe("commit: waiting for a flush on another thread", waiting);
            }
        }
        var durableUntil = Math.Max(_log.CommittedUntilAddress, _log.FlushedUntilAddress);
        if (durableUntil < _log.TailAddress)
        {
            throw new IOException($"The journal commit in {_directory} did not reach the tail ({durableUntil} < {_log.TailAddress}).");
        }
        // FASTER's commit record is on disk: the batch is acknowledged. The mark follows in the background.
        if (_deferredMark is null) _mark.Write(_appendedLsn, _log.BeginAddress, durableUntil);
        else _deferredMark.Post(_appendedLsn, _log.BeginAddress, durableUntil);
        LastLsn = _appendedLsn;
        CommitCount++;
    }

    /// <inheritdoc />
    public void TruncateBefore(long address)
    {
        if (address > _log.BeginAddress && address <= _log.CommittedUntilAddress) _log.TruncateUntil(address);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        // The last posted mark is written before the files close.
        _deferredMark?.Dispose();
        _log.Dispose();
        _device.Dispose();
        _settings.Dispose();
        _commitManager.Dispose();
        _mark.Dispose();
        _committed.Dispose();
    }

    /// <summary>FasterLog alone would start empty when its commit file is gone: compare with our own mark.</summary>
    private void CheckCommitPoint(bool acceptDataLoss)
    {
        string? problem = null;
        if (_mark.Damaged)
        {
            problem = $"{CommitMark.FileName} is damaged (no valid slot)";
        }
        else if (_mark.Current is { } mark && _log.CommittedUntilAddress < mark.UntilAddress)
        {
            problem = $"FASTER recovered the journal up to address {_log.CommittedUntilAddress} but {mark.UntilAddress} (log sequence number {mark.Lsn}) was acknowledged: its commit file is missing or damaged";
        }
        else if (_mark.Current is null && DataExisted)
        {
            problem = $"journal segments exist but {CommitMark.FileName} does not: cannot tell how much was acknowledged";
        }
        if (problem is null) return;
        if (acceptDataLoss)
        {
            DataLoss = problem;
            return;
        }
        Dispose();
        throw new JournalCorruptException($"Refusing to start from {_directory}: {problem}. Restore the files, or start with AcceptDataLoss to keep what is valid.");
    }

    private JournalCorruptException Corrupt(long lsn, long address, string reason, Exception? inner = null)
    {
        var segment = address >> _segmentSizeBits;
        var message = $"Refusing to start: the journal {Path.Combine(_directory, $"{LogFileName}.{segment}")} is damaged at address {address} (log sequence number {lsn}): {reason}.";
        return inner is null ? new JournalCorruptException(message) : new JournalCorruptException(message, inner);
    }
}
