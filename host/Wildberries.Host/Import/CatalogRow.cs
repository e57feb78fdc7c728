using System.Globalization;
using Wildberries.Core;

namespace Wildberries.Host.Import;

/// <summary>One good row of an import file: an item's definition and one stock row of it.</summary>
internal readonly record struct CatalogRow(long Sku, string Name, long Price, int MaxPerOrder, int WarehouseId, long OnHand)
{
    /// <summary>A stable hash of the item's name, so later rows of a SKU are compared without keeping every name.</summary>
    public ulong NameHash
    {
        get
        {
            var h = new StateHash(0x1A4E);
            h.Add(Name);
            return h.Value;
        }
    }

    /// <summary>The catalog command this row defines (the first good row of a SKU is the one submitted).</summary>
    public Command Item => Command.UpsertItem(Sku, Name, Price, MaxPerOrder, active: true);

    /// <summary>The stock command of this row: an absolute count, so importing the same file twice changes nothing.</summary>
    public Command Stock => Command.SetStockOnHand(Sku, WarehouseId, OnHand, expectedOnHand: null, CatalogRowParser.StockReason);
}

/// <summary>Why a row of an import file is refused: its line, the column at fault (or <c>-</c>), and the reason.</summary>
internal readonly record struct BadRow(long Line, string Column, string Reason)
{
    public override string ToString() => $"line {Line}, {(Column == "-" ? "row" : $"column {Column}")}: {Reason}";
}

/// <summary>
/// Parses a line of the import CSV (RFC 4180 fields) into a <see cref="CatalogRow"/> and checks it with the engine's
/// own field rules (<see cref="CommandRules"/>), so a row the engine would refuse is caught before anything is
/// journaled. No I/O; the same parser serves both passes.
/// </summary>
internal sealed class CatalogRowParser(StateMachineOptions limits)
{
    /// <summary>The columns, in order, that the header line must name.</summary>
    public static readonly string[] Columns = ["sku", "name", "price", "max_per_order", "warehouse_id", "on_hand"];

    /// <summary>The reason recorded in the journal with every stock row an import sets.</summary>
    public const string StockReason = "catalog import";

    private readonly StateMachineOptions _limits = limits;
    private readonly Range[] _fields = new Range[Columns.Length];
    private readonly bool[] _quoted = new bool[Columns.Length];

    /// <summary>
    /// The longest line worth reading: a name of <see cref="StateMachineOptions.NameLengthMax"/> characters with every
    /// one a doubled quote, plus five 20-digit numbers and the separators. A longer line is not a catalog row.
    /// </summary>
    public int LineLengthMax => 2 * _limits.NameLengthMax + 2 + 5 * 21 + Columns.Length;

    /// <summary>The header line the file must begin with.</summary>
    public static string Header => string.Join(',', Columns);

    /// <summary>Whether <paramref name="line"/> is the header (a UTF-8 byte order mark is already gone).</summary>
    public static bool IsHeader(ReadOnlySpan<char> line) => line.Trim().SequenceEqual(Header);

    /// <summary>Parses and checks one line; false with <paramref name="bad"/> saying where and why it is refused.</summary>
    public bool TryParse(ReadOnlySpan<char> line, long lineNumber, bool tooLong, out CatalogRow row, out BadRow bad)
    {
        row = default;
        if (tooLong) return Refuse(lineNumber, "-", $"longer than {LineLengthMax} characters", out bad);
        if (line.IsEmpty) return Refuse(lineNumber, "-", "empty line", out bad);
        if (line.Contains('\uFFFD')) return Refuse(lineNumber, "-", "not valid UTF-8", out bad);
        if (Split(line) is { } splitError) return Refuse(lineNumber, "-", splitError, out bad);

        if (!TryInteger(line, 0, out var sku, out bad, lineNumber)) return false;
        var name = Text(line, 1);
        if (!TryInteger(line, 2, out var price, out bad, lineNumber)) return false;
        long maxPerOrder = _limits.MaxPerOrderDefault;
        // An empty max_per_order takes the engine's default cap.
        if (!line[_fields[3]].IsEmpty && !TryInteger(line, 3, out maxPerOrder, out bad, lineNumber)) return false;
        if (!TryInteger(line, 4, out var warehouse, out bad, lineNumber)) return false;
        if (!TryInteger(line, 5, out var onHand, out bad, lineNumber)) return false;
        // Numbers beyond the command's field types are out of range before the engine's own rules run.
        if (maxPerOrder is < int.MinValue or > int.MaxValue) return Refuse(lineNumber, Columns[3], $"{maxPerOrder} must be at most {_limits.QuantityPerLineMax}", out bad);
        if (warehouse is < int.MinValue or > int.MaxValue) return Refuse(lineNumber, Columns[4], $"{warehouse} must be a positive 32-bit integer", out bad);

        row = new CatalogRow(sku, name, price, (int)maxPerOrder, (int)warehouse, onHand);
        if (CommandRules.IsRefused(row.Item, _limits, out var refusal) || CommandRules.IsRefused(row.Stock, _limits, out refusal))
        {
            return Refuse(lineNumber, ColumnOf(refusal.Field), Explain(refusal, row), out bad);
        }
        return true;
    }

    /// <summary>Finds the fields of an RFC 4180 line; the reason it is malformed, or null.</summary>
    private string? Split(ReadOnlySpan<char> line)
    {
        var count = 0;
        var i = 0;
        while (true)
        {
            int start, end;
            var quoted = i < line.Length && line[i] == '"';
            if (quoted)
            {
                start = i + 1;
                var j = start;
                while (true)
                {
                    var next = line[j..].IndexOf('"');
                    if (next < 0) return $"unbalanced quote in column {count + 1}";
                    j += next;
                    if (j + 1 < line.Length && line[j + 1] == '"')
                    {
                        j += 2; // an escaped quote
                        continue;
                    }
                    break;
                }
                end = j;
                i = j + 1;
                if (i < line.Length && line[i] != ',') return $"text after the closing quote of column {count + 1}";
            }
            else
            {
                start = i;
                var comma = line[i..].IndexOf(',');
                end = comma < 0 ? line.Length : i + comma;
                if (line[start..end].Contains('"')) return $"a quote inside unquoted column {count + 1} (quote the whole field and double the quote)";
                i = end;
            }
            if (count < Columns.Length)
            {
                _fields[count] = start..end;
                _quoted[count] = quoted;
            }
            count++;
            if (i >= line.Length) break;
            i++; // the comma
            if (i == line.Length)
            {
                // A trailing comma: one more, empty, field.
                if (count < Columns.Length) (_fields[count], _quoted[count]) = (i..i, false);
                count++;
                break;
            }
        }
        return count == Columns.Length ? null : $"{count} columns, expected {Columns.Length} ({Header})";
    }

    private string Text(ReadOnlySpan<char> line, int column)
    {
        var raw = line[_fields[column]];
        return _quoted[column] && raw.Contains('"') ? raw.ToString().Replace("\"\"", "\"", StringComparison.Ordinal) : raw.ToString();
    }

    private bool TryInteger(ReadOnlySpan<char> line, int column, out long value, out BadRow bad, long lineNumber)
    {
        bad = default;
        var raw = line[_fields[column]];
        if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value)) return true;
        var shown = raw.Length > 24 ? $"{raw[..24]}..." : raw.ToString();
        return Refuse(lineNumber, Columns[column], $"'{shown}' is not an integer", out bad);
    }

    private static bool Refuse(long line, string column, string reason, out BadRow bad)
    {
        bad = new BadRow(line, column, reason);
        return false;
    }

    private static string ColumnOf(string? field) => field switch
    {
        "maxPerOrder" => "max_per_order",
        "warehouseId" => "warehouse_id",
        "onHand" => "on_hand",
        null => "-",
        _ => field,
    };

    /// <summary>The engine's refusal said in the file's terms: the column's value and the rule it breaks.</summary>
    private string Explain(CommandResult refusal, CatalogRow row)
    {
        var outOfRange = refusal.Code == ResultCode.OutOfRange;
        return refusal.Field switch
        {
            "sku" => $"{row.Sku} must be a positive integer",
            "name" => $"must be 1 to {_limits.NameLengthMax} characters without control characters (has {row.Name.Length})",
            "price" => outOfRange ? $"{row.Price} must be at most {_limits.PriceMax}" : $"{row.Price} must not be negative",
            "maxPerOrder" => outOfRange ? $"{row.MaxPerOrder} must be at most {_limits.QuantityPerLineMax}" : $"{row.MaxPerOrder} must be at least 1",
            "warehouseId" => $"{row.WarehouseId} must be a positive integer",
            "onHand" => outOfRange ? $"{row.OnHand} must be at most {_limits.OnHandMax}" : $"{row.OnHand} must not be negative",
            _ => $"refused by the engine ({ResultCodes.ToWire(refusal.Code)})",
        };
    }
}
