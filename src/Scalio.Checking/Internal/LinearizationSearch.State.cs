using System.Numerics;

namespace Scalio.Checking.Internal;

// The search's bookkeeping: model state and value counts, the frontier, the memo key and the candidate list.
internal sealed partial class LinearizationSearch
{
    /// <summary>
    /// Linearizes (<paramref name="delta"/> = -1) or un-linearizes (+1) <paramref name="op"/>'s effect on
    /// the reader and writer counts while the state goes from <paramref name="from"/> to <paramref name="to"/>,
    /// keeping <see cref="_deadValues"/> exact.
    /// </summary>
    private void Change(int op, int from, int to, int delta)
    {
        int v = _h.Value[op];
        AccountValue(-1, from, v);
        if (from != v)
        {
            AccountValue(-1, from, from);
        }

        if (to != v && to != from)
        {
            AccountValue(-1, from, to);
        }

        if (_h.Kind[op] == OperationKind.Get)
        {
            _readers[v] += delta;
        }
        else
        {
            _writers[v] += delta;
        }

        AccountValue(+1, to, v);
        if (from != v)
        {
            AccountValue(+1, to, from);
        }

        if (to != v && to != from)
        {
            AccountValue(+1, to, to);
        }
    }

    private void AccountValue(int sign, int state, int v)
    {
        if (v >= 0 && v != state && _readers[v] > 0 && _writers[v] == 0)
        {
            _deadValues += sign;
        }
    }

    /// <summary>The first complete, unlinearized operation after <paramref name="from"/> (n if none).</summary>
    private int AdvanceP(int from)
    {
        int q = from + 1;
        while (q < _n && (_incomplete[q] || (_bits[q >> 6] & (1UL << q)) != 0))
        {
            q++;
        }

        return q;
    }

    /// <summary>Writes the exceptions of the current set relative to <paramref name="p"/> into the scratch buffer.</summary>
    private int Compact(int p)
    {
        int count = 0;
        foreach (int j in _incompleteList)
        {
            if (j >= p)
            {
                break;
            }

            if ((_bits[j >> 6] & (1UL << j)) == 0)
            {
                _scratch[count++] = j;
            }
        }

        if (p < _n)
        {
            // Every linearized operation after p started no later than p's end.
            int from = p + 1;
            int to = _limit[p];
            if (from <= to)
            {
                int w0 = from >> 6;
                int w1 = to >> 6;
                for (int w = w0; w <= w1; w++)
                {
                    ulong word = _bits[w];
                    if (w == w0)
                    {
                        word &= ~0UL << (from & 63);
                    }

                    if (w == w1 && (to & 63) != 63)
                    {
                        word &= (1UL << ((to & 63) + 1)) - 1;
                    }

                    while (word != 0)
                    {
                        _scratch[count++] = (w << 6) + BitOperations.TrailingZeroCount(word);
                        word &= word - 1;
                    }
                }
            }
        }

        return count;
    }

    private void Lift(int op)
    {
        Remove(2 * op);
        Remove(2 * op + 1);
    }

    private void Unlift(int op)
    {
        Restore(2 * op + 1);
        Restore(2 * op);
    }

    private void Remove(int node)
    {
        int p = _prev[node];
        int q = _next[node];
        _next[p] = q;
        if (q != -1)
        {
            _prev[q] = p;
        }
    }

    private void Restore(int node)
    {
        int p = _prev[node];
        int q = _next[node];
        _next[p] = node;
        if (q != -1)
        {
            _prev[q] = node;
        }
    }
}
