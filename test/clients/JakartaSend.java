// Compatibility matrix client: Jakarta Mail 2.0 (Debian libjakarta-mail-java, what Spring Boot's
// JavaMailSender drives) sends the matrix message. Run as a single-file source program:
//   java -cp /usr/share/java/jakarta-mail.jar:/usr/share/java/jakarta-activation.jar JakartaSend.java <spec.json>
// Prints the SMTP dialogue (session debug) and "OK <last server reply>"; exits 1 on failure.
import com.sun.mail.smtp.SMTPTransport;
import jakarta.activation.DataHandler;
import jakarta.activation.FileDataSource;
import jakarta.mail.Message;
import jakarta.mail.Session;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeBodyPart;
import jakarta.mail.internet.MimeMessage;
import jakarta.mail.internet.MimeMultipart;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class JakartaSend {
  // The spec is flat JSON of strings, numbers and string arrays written by test/helpers/matrix.ts;
  // a tiny reader keeps this program free of a JSON library.
  static String str(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\":(\"((?:[^\"\\\\]|\\\\.)*)\"|(\\d+))").matcher(json);
    if (!m.find()) throw new IllegalArgumentException("missing " + key);
    return m.group(3) != null ? m.group(3) : unescape(m.group(2));
  }

  static String[] arr(String json, String key) {
    Matcher m = Pattern.compile("\"" + key + "\":\\[(.*?)\\]").matcher(json);
    if (!m.find()) throw new IllegalArgumentException("missing " + key);
    Matcher item = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(m.group(1));
    java.util.List<String> out = new java.util.ArrayList<>();
    while (item.find()) out.add(unescape(item.group(1)));
    return out.toArray(new String[0]);
  }

  static String unescape(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '\\') { b.append(c); continue; }
      char n = s.charAt(++i);
      switch (n) {
        case 'n': b.append('\n'); break;
        case 'r': b.append('\r'); break;
        case 't': b.append('\t'); break;
        case 'u': b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; break;
        default: b.append(n);
      }
    }
    return b.toString();
  }

  public static void main(String[] args) throws Exception {
    String spec = Files.readString(Path.of(args[0]), StandardCharsets.UTF_8);
    boolean smtps = str(spec, "mode").equals("smtps");

    Properties props = new Properties();
    props.put("mail.smtp.host", "127.0.0.1");
    props.put("mail.smtp.port", str(spec, "port"));
    props.put("mail.smtp.auth", "true");
    props.put("mail.smtp.auth.mechanisms", str(spec, "authType"));
    if (smtps) {
      props.put("mail.smtp.ssl.enable", "true");
    } else {
      props.put("mail.smtp.starttls.enable", "true");
      props.put("mail.smtp.starttls.required", "true");
    }
    props.put("mail.smtp.ssl.trust", "*"); // trust the gateway's self-signed certificate
    props.put("mail.smtp.localhost", "matrix.example.com");
    props.put("mail.smtp.connectiontimeout", "10000");
    props.put("mail.smtp.timeout", "15000");
    Session session = Session.getInstance(props);
    session.setDebug(true); // the SMTP dialogue on stdout (credentials are not shown)

    MimeMessage msg = new MimeMessage(session);
    msg.setFrom(new InternetAddress(str(spec, "fromAddress"), str(spec, "fromName"), "UTF-8"));
    String[] to = arr(spec, "to");
    String[] toNames = arr(spec, "toNames");
    msg.setRecipients(Message.RecipientType.TO, new InternetAddress[] {
      new InternetAddress(to[0], toNames[0], "UTF-8"), new InternetAddress(to[1], toNames[1], "UTF-8"),
    });
    msg.setRecipient(Message.RecipientType.CC, new InternetAddress(str(spec, "cc")));
    msg.setRecipient(Message.RecipientType.BCC, new InternetAddress(str(spec, "bcc")));
    msg.setSubject(str(spec, "subject"), "UTF-8");

    MimeMultipart alternative = new MimeMultipart("alternative");
    MimeBodyPart text = new MimeBodyPart();
    text.setText(str(spec, "text"), "UTF-8");
    MimeBodyPart html = new MimeBodyPart();
    html.setText(str(spec, "html"), "UTF-8", "html");
    alternative.addBodyPart(text);
    alternative.addBodyPart(html);
    MimeBodyPart body = new MimeBodyPart();
    body.setContent(alternative);

    MimeBodyPart pdf = new MimeBodyPart();
    pdf.setDataHandler(new DataHandler(new FileDataSource(str(spec, "pdfPath"))));
    pdf.setFileName(str(spec, "pdfName"));
    pdf.setHeader("Content-Type", "application/pdf; name=\"" + str(spec, "pdfName") + "\"");
    pdf.setDisposition(MimeBodyPart.ATTACHMENT);

    MimeMultipart mixed = new MimeMultipart("mixed");
    mixed.addBodyPart(body);
    mixed.addBodyPart(pdf);
    msg.setContent(mixed);
    msg.saveChanges();

    SMTPTransport transport = (SMTPTransport) session.getTransport("smtp");
    try {
      transport.connect("127.0.0.1", Integer.parseInt(str(spec, "port")), str(spec, "user"), str(spec, "password"));
      transport.sendMessage(msg, msg.getAllRecipients());
      System.out.println("OK " + transport.getLastServerResponse().trim());
    } finally {
      transport.close();
    }
  }
}
