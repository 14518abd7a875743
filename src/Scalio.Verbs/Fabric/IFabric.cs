namespace Scalio.Verbs;

/// <summary>A fabric provider (loopback, libfabric): code above the fabric opens domains through this, never naming a provider's domain type.</summary>
public interface IFabric
{
    /// <summary>Creates a protection domain of this provider.</summary>
    ProtectionDomain CreateDomain();
}
