namespace Scalio.Verbs;
