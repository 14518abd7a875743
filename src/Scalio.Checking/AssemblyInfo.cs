namespace Scalio.Checking;
