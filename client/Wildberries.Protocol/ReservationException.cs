namespace Wildberries.Protocol;

/// <summary>
/// A request the reservation service refused, with the stable problem code HTTP answers too
/// (<see cref="ProblemBody.Code"/>): what <see cref="IReservationService"/> callers branch on, embedded or remote.
/// </summary>
public sealed class ReservationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ReservationException() : this(new ProblemBody("unknown", 500, "Unknown error."))
    {
    }

    /// <summary>Creates the exception.</summary>
    public ReservationException(string message) : this(new ProblemBody("unknown", 500, message))
    {
    }

    /// <summary>Creates the exception.</summary>
    public ReservationException(string message, Exception inner) : base(message, inner)
    {
        Problem = new ProblemBody("unknown", 500, message);
    }

    /// <summary>Creates the exception for <paramref name="problem"/>.</summary>
    public ReservationException(ProblemBody problem) : base(Describe(problem))
    {
        Problem = problem;
    }

    /// <summary>The problem: code, HTTP status, title, field, shortages.</summary>
    public ProblemBody Problem { get; }

    /// <summary>The stable problem code.</summary>
    public string Code => Problem.Code;

    private static string Describe(ProblemBody problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return $"{problem.Code} ({problem.Status}): {problem.Title}{(problem.Detail is null ? "" : " " + problem.Detail)}{(problem.Field is null ? "" : $" [{problem.Field}]")}";
    }
}
