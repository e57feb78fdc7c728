using System.Text;

namespace Wildberries.Host.Import;

/// <summary>
/// Reads a UTF-8 text file one line at a time into a reused buffer, so a file of millions of rows costs one buffer,
/// not a string per line. A line longer than the limit is cut (and flagged), never held whole: a file without line
/// breaks cannot fill memory. Invalid UTF-8 becomes U+FFFD, which the row parser refuses with the line's number.
/// </summary>
internal sealed class CsvLineReader : IDisposable
{
    /// <summary>1 MiB reads: large sequential reads, few system calls.</summary>
    private const int ReadBufferBytes = 1 << 20;

    private readonly FileStream _stream;
    private readonly StreamReader _reader;
    private readonly char[] _chars = new char[64 * 1024];
    private readonly char[] _line;
    private int _charsStart;
    private int _charsEnd;
    private int _length;
    private bool _end;

    public CsvLineReader(string path, int lineLengthMax)
    {
        _line = new char[lineLengthMax];
        _stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, ReadBufferBytes, FileOptions.SequentialScan);
        _reader = new StreamReader(_stream, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true, ReadBufferBytes);
    }

    /// <summary>The current line's number, 1 for the first.</summary>
    public long LineNumber { get; private set; }

    /// <summary>The current line was longer than the limit; <see cref="Line"/> holds its beginning.</summary>
    public bool TooLong { get; private set; }

    /// <summary>The current line without its line break.</summary>
    public ReadOnlySpan<char> Line => _line.AsSpan(0, _length);

    /// <summary>How far into the file the reader is, in bytes (ahead of the current line by the read buffer).</summary>
    public long Position => _stream.Position;

    /// <summary>The file's length in bytes.</summary>
    public long Length => _stream.Length;

    /// <summary>Moves to the next line; false at the end of the file (a final line break ends the last line).</summary>
    public bool ReadLine()
    {
        _length = 0;
        TooLong = false;
        var any = false;
        while (true)
        {
            if (_charsStart == _charsEnd && !Fill())
            {
                if (!any) return false;
                break;
            }
            any = true;
            var available = _chars.AsSpan(_charsStart, _charsEnd - _charsStart);
            var newline = available.IndexOf('\n');
            var take = newline >= 0 ? available[..newline] : available;
            Append(take);
            _charsStart += newline >= 0 ? newline + 1 : take.Length;
            if (newline >= 0) break;
        }
        // CRLF and LF both end a line (RFC 4180 says CRLF; most exports write LF).
        if (_length > 0 && !TooLong && _line[_length - 1] == '\r') _length--;
        LineNumber++;
        return true;
    }

    private void Append(ReadOnlySpan<char> chars)
    {
        var room = _line.Length - _length;
        if (chars.Length > room)
        {
            TooLong = true;
            chars = chars[..room];
        }
        chars.CopyTo(_line.AsSpan(_length));
        _length += chars.Length;
    }

    private bool Fill()
    {
        if (_end) return false;
        _charsStart = 0;
        _charsEnd = _reader.Read(_chars, 0, _chars.Length);
        if (_charsEnd == 0) _end = true;
        return !_end;
    }

    public void Dispose() => _reader.Dispose();
}
