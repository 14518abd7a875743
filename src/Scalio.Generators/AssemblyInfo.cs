namespace Scalio.Generators;
